"""Migration scripts of the embedded site store."""
