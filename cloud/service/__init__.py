"""The cloud tenant service: an aiohttp application over the cloud store.

Two listeners share one state: the admin/API listener (bearer tokens) and the
connector listener (mutual TLS with enrolled client certificates).
"""
