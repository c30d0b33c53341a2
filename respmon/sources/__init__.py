"""Sources of depth frames: recordings (and, elsewhere, live cameras)."""
