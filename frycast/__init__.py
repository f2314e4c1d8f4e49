"""Shared plumbing of frycast: settings, the warehouse connection and the embedded Postgres."""
