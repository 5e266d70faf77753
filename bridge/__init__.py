"""The connector: its clients of the tenant, state, sync, arbiter, action relay, rollouts and CLI."""
