"""The gates: deterministic rules, Claude reviewers on a manual tool-use loop with read-only
tools, the verdict type every gate returns, the audit trail of each review, and the advice the
pipeline takes from earlier reviews.

A model's verdict may tighten a rule, never loosen it. Reads the warehouse through the
read-only login only; imports ``frycast``, ``warehouse`` and ``ml``'s hierarchy, never the flows."""
