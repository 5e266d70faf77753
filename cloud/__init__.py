"""The cloud tenant service, its wire contract and the client the connector uses."""
