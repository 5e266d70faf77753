"""The arbiter: drives each (device, workload) to its desired holder, break before make.

`Arbiter` runs the pure handoff of `workloads.handoff` against the two sides'
gates (`SideChannel`), journaling each record in the connector's state before
sending the commands of its step (DESIGN.md section 7).
"""
