"""The connector's client of the tenant service: every call it makes over HTTPS.

One chokepoint (`core`) owns the session, timeouts and retries and turns
aiohttp's exceptions into the project's errors (`errors`).
"""
