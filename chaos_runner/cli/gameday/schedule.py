"""`chaos gameday schedule` (being built)."""
