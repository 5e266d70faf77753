"""Migration scripts of the connector's state store."""
