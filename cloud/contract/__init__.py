"""The wire contract between the connector, automation and the cloud tenant service.

One set of pydantic models, used by the server to validate and by the client
to build and parse, so the two cannot drift apart.
"""
