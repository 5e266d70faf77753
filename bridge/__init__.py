"""The connector: composition root, sync engine, arbiter, action relay and CLI."""
