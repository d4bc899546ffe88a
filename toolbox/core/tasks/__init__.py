"""Tasks: the queued → dispatched → done lifecycle, outcomes, time bounds and history."""
