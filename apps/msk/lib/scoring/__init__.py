"""Scoring methods that record per-image uncertainty in the datastore."""
