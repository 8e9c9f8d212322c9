"""`chaos gameday validate` (being built)."""
