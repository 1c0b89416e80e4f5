"""Run history: what a run becomes in the history, what is usual for a job, and when a run is slow."""
