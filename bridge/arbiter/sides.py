"""The two real sides as the arbiter reaches them: the site's gate and the tenant's.

Each turns its adapter's failures into `SideUnreachable`, so that a side that
cannot answer leaves its handoffs where they are (DESIGN.md section 7: the
grant is never sent before the revoke is acknowledged).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

from bridge.arbiter.ports import SideUnreachable
from bridge.tenant.connector import ConnectorClient
from bridge.tenant.errors import CloudError
from onprem.errors import SiteError
from onprem.site_authority import SiteGate
from workloads.catalog import Holder
from workloads.messages import Command, Reply


class SiteSide:
    """The site's gate, through the site adapter (a blocking call, run in a thread)."""

    side = Holder.CONFIGMGR

    def __init__(self, gate: SiteGate, *, clock: Callable[[], datetime]) -> None:
        self._gate = gate
        self._clock = clock

    async def send(self, commands: Sequence[Command]) -> list[Reply]:
        """Apply the commands at the site's gate, in one transaction."""
        try:
            return await asyncio.to_thread(
                self._gate.apply_commands, list(commands), now=self._clock()
            )
        except SiteError as exc:
            raise SideUnreachable(f"the site's gate did not answer: {exc.message}") from exc


class CloudSide:
    """The tenant's gate, through the connector API (commands in batches, replies in order)."""

    side = Holder.CLOUD

    def __init__(self, client: ConnectorClient) -> None:
        self._client = client

    async def send(self, commands: Sequence[Command]) -> list[Reply]:
        """Apply the commands at the tenant's gate."""
        try:
            answer = await self._client.authority_commands(list(commands))
        except CloudError as exc:
            raise SideUnreachable(f"the tenant's gate did not answer: {exc}") from exc
        return [reply.message() for reply in answer.replies]
