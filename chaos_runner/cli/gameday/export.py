"""`chaos gameday export` (being built)."""
