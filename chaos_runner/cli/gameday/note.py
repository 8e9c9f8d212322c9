"""`chaos gameday note` (being built)."""
