"""The clients of the tenant service, one per role: every call each makes over HTTPS.

`connector.ConnectorClient` is the connector's (its mutual-TLS listener and
its anonymous enrollment), `admin.AdminClient` the admin API's (bearer token:
tests, the CLI, automation, the demo), `checkin.CheckInClient` a device's
check-in. One chokepoint (`core`) under all three owns the session, timeouts
and retries and turns aiohttp's exceptions into the project's errors (`errors`).
"""
