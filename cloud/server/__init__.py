"""The tenant server's assembly, above its parts: the aiohttp applications and `cobridge cloud`.

The layers of `cloud`, lowest first: `cloud.contract`; `cloud.store` and
`cloud.pki`; `cloud.service` (API routes, auth, state, bootstrap);
`cloud.admin_center` (pages, over the service's auth and queries);
`cloud.server`. A module imports only from its own layer or lower ones.
"""
