"""Migration scripts of the cloud store."""
