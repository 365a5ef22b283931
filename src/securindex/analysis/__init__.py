"""Statistical coherence, uncertainty and sensitivity analysis of composite indices."""
