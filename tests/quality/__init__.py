"""Tests of the data-quality checks (quality/)."""
