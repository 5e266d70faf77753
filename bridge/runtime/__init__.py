"""The running connector: enrollment, registration, heartbeat, cycles, health and metrics.

`ConnectorRunner` (in `runner`) composes it from `ConnectorSettings`;
`cobridge connector run` and `cobridge demo` start it.
"""
