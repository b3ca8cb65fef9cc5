"""Video consistency (Ruder et al.): the temporal terms, the per-shot schedule, the shot runner."""
