"""Rollout calls of the cloud client: the connector's order loop and the admin's orders.

`CloudClient` (in `bridge.tenant.connector`) includes these; use that class. The
connector fetches its hierarchy's queued orders (`queued_rollout_orders`),
posts each one's result (`post_rollout_result`, idempotent: the same result
again is answered alike, another one is refused with
`rollout_result_conflict`) and reports its rollout's status
(`report_rollout_status`). Admins queue orders (operator role) and read
them and the rollout's status.
"""

from __future__ import annotations

from urllib.parse import quote

from bridge.tenant.admin import AdminCalls, _Values
from bridge.tenant.policy import IDEMPOTENT, REFUSED_ONLY
from cloud.contract.rollouts import (
    RolloutOrder,
    RolloutOrderAck,
    RolloutOrderOut,
    RolloutOrderPage,
    RolloutOrderResult,
    RolloutOrderState,
    RolloutOut,
    RolloutStatusAck,
    RolloutStatusReport,
)


def _hierarchy(hierarchy_id: str) -> str:
    return f"/api/v1/hierarchies/{quote(hierarchy_id, safe='')}"


class RolloutCalls(AdminCalls):
    """Rollout orders and status as typed async calls; a base of `CloudClient`."""

    # Connector calls (connector listener).

    async def queued_rollout_orders(self) -> list[RolloutOrderOut]:
        """This hierarchy's orders not yet run, oldest first."""
        answer = await self._call(
            "queued_rollout_orders",
            "GET",
            "connector",
            "/connector/v1/rollouts/orders",
            _Values[RolloutOrderOut],
        )
        return answer.value

    async def post_rollout_result(
        self, order_id: str, result: RolloutOrderResult
    ) -> RolloutOrderAck:
        """Report how an order ended; the same result again is answered as the first time."""
        path = f"/connector/v1/rollouts/orders/{quote(order_id, safe='')}/result"
        return await self._call(
            "post_rollout_result", "POST", "connector", path, RolloutOrderAck, send=result
        )

    async def report_rollout_status(self, report: RolloutStatusReport) -> RolloutStatusAck:
        """Send the rollout's status (kept by the tenant when it changed)."""
        return await self._call(
            "report_rollout_status",
            "POST",
            "connector",
            "/connector/v1/rollouts/status",
            RolloutStatusAck,
            send=report,
        )

    # Admin calls (API listener).

    async def create_rollout_order(self, hierarchy_id: str, order: RolloutOrder) -> RolloutOrderOut:
        """Queue an order for the hierarchy's connector; with an idempotency key, retried safely."""
        return await self._call(
            "create_rollout_order",
            "POST",
            "api",
            f"{_hierarchy(hierarchy_id)}/rolloutOrders",
            RolloutOrderOut,
            send=order,
            policy=IDEMPOTENT if order.idempotency_key is not None else REFUSED_ONLY,
        )

    async def rollout_order(self, hierarchy_id: str, order_id: str) -> RolloutOrderOut:
        """One order, with its result or refusal once the connector ran it."""
        path = f"{_hierarchy(hierarchy_id)}/rolloutOrders/{quote(order_id, safe='')}"
        return await self._call("rollout_order", "GET", "api", path, RolloutOrderOut)

    async def list_rollout_orders(
        self, hierarchy_id: str, *, state: RolloutOrderState | None = None, top: int = 50
    ) -> list[RolloutOrderOut]:
        """The hierarchy's orders, newest first."""
        params = {"$top": str(top)} | ({"state": state.value} if state is not None else {})
        answer = await self._call(
            "list_rollout_orders",
            "GET",
            "api",
            f"{_hierarchy(hierarchy_id)}/rolloutOrders",
            RolloutOrderPage,
            params=params,
        )
        return answer.value

    async def rollout(self, hierarchy_id: str) -> RolloutOut:
        """The hierarchy's rollout as its connector last reported it."""
        path = f"{_hierarchy(hierarchy_id)}/rollout"
        return await self._call("rollout", "GET", "api", path, RolloutOut)
