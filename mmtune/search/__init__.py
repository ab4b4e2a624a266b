"""Running a search: spaces, where it starts, the tuner backends, re-evaluation, workers."""
