"""The demo: the whole system on one machine, and the simulated world it runs against.

This is the demo's composition root (`system`): the one place besides the
console that names both sides, the cloud service and the connector. The site
generator and the device simulator live here, apart from the connector's
product path; tests and benchmarks use them too.
"""
