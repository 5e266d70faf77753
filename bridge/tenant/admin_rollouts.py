"""The admin API's rollout calls: queue orders for a hierarchy's connector, read them and the rollout.

`AdminClient` (in `bridge.tenant.admin`) includes these; use that class.
Queuing needs the operator role. The connector's side (fetching orders,
posting results, reporting status) is `ConnectorClient`'s.
"""

from __future__ import annotations

from urllib.parse import quote

from bridge.tenant.core import ClientCore
from bridge.tenant.policy import IDEMPOTENT, REFUSED_ONLY
from cloud.contract.rollouts import (
    RolloutOrder,
    RolloutOrderOut,
    RolloutOrderPage,
    RolloutOrderState,
    RolloutOut,
)


def _hierarchy(hierarchy_id: str) -> str:
    return f"/api/v1/hierarchies/{quote(hierarchy_id, safe='')}"


class AdminRolloutCalls(ClientCore):
    """Rollout orders and status as typed async calls (API listener); a base of `AdminClient`."""

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
