"""Method registries of the composite-index pipeline (OECD/JRC Handbook menu)."""
