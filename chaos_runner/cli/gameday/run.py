"""`chaos gameday run` (being built)."""
