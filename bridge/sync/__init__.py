"""The sync engine (DESIGN.md section 6): site read -> identity -> diff -> batches -> upload.

`SyncEngine.run_cycle()` runs one cycle; `bridge.runtime` runs cycles on an
interval. Planning (`plan`) is synchronous and streams; uploading
(`uploader`) is async with several batches in flight; the delete guard
(`guard`) is a pure decision.
"""
