"""Game days: plans, schedules, exports, the timeline of a run, the learning review.

See docs/gameday.md for the plan format, the run directory and the timeline events.
"""
