"""Alerts: the threshold scan in batches, the immediate checks, evaluation and the per-course statistics."""
