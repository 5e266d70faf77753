"""The pure co-management domain: workloads, authority, handoffs, rollout planning.

Standard library and pydantic only: no I/O, no asyncio, no database, no clock
reads (DESIGN.md section 3).

- `catalog`: the one home of every workload fact (flag bits, Graph feature
  names, display names, short names, the dependency rule's carriers) and the
  two sides (`Holder`).
- `flags`: the CoManagementFlags integer, encoded and decoded.
- `settings`: the site's co-management settings (sliders, pilot collections,
  auto-enrollment).
- `authority`: device facts, the co-managed predicate, the desired holder of
  each workload (with the dependency rule).
- `messages`, `handoff`, `gate`: authority records, the break-before-make
  handoff with epochs, and each side's fenced gate.
- `invariant`: the checker that replays what each side did.
- `devices`: OS family and build facts.
"""
