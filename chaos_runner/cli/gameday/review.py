"""`chaos gameday review` (being built)."""
