"""The cloud tenant service: its wire contract, store, PKI, API, admin center and server.

Layers, lowest first: `contract`; `store` and `pki`; `service`; `admin_center`;
`server` (the assembly and the `cobridge cloud` commands). See `cloud.server`.
"""
