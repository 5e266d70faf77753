"""The pure co-management domain: workloads, authority, handoffs, rollout planning.

Standard library and pydantic only: no I/O, no asyncio, no database, no clock
reads (DESIGN.md section 3).
"""
