"""Quarantine over real HTTPS: the connector's report in a heartbeat, the admins' list.

A report replaces the one before; a heartbeat without one keeps it; the
answer names the digest the tenant holds so the connector can skip an
unchanged report. Lists are scoped to the caller's tenant. Runs on SQLite and
PostgreSQL, one service per backend for the module.
"""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from bridge.tenant.errors import CloudApiError
from cloud.contract.attach import Heartbeat
from cloud.contract.quarantine import (
    QuarantineReport,
    quarantine_digest,
)
from tests.support.cloud_service import RunningService
from tests.support.quarantine_reports import refused, report
from tests.support.service_fixtures import shared_service
from tests.support.tenant_clients import admin_client, connector_for

MODULE = pytest.mark.asyncio(loop_scope="module")


service = shared_service  # one service per module and backend


def test_a_report_whose_digest_does_not_match_is_refused() -> None:
    good = report([refused(1)], {"invalid_guid": 1})
    with pytest.raises(ValidationError, match="digest does not match"):
        QuarantineReport(digest=good.digest, counts={"invalid_guid": 2}, records=good.records)
    # The same content in another order has the same digest.
    a, b = refused(1), refused(2, "too_long")
    counts = {"invalid_guid": 1, "too_long": 1}
    assert quarantine_digest(counts, [a, b]) == quarantine_digest(
        dict(reversed(counts.items())), [b, a]
    )


@MODULE
async def test_report_replace_keep_filter_and_page(service: RunningService) -> None:
    _, token = await service.tenant_with_admin(f"quar-{uuid.uuid4().hex[:8]}")
    async with admin_client(service, token) as admin:
        enrolled = await connector_for(service, admin, "H-PS1")
        async with enrolled.client as connector:
            never = await admin.quarantine("H-PS1")
            assert (never.value, never.total, never.reported_at) == ([], 0, None)
            ack = await connector.heartbeat(Heartbeat())
            assert ack.quarantine_digest is None

            records = [
                refused(n, "too_long" if n % 3 == 0 else "invalid_guid", minutes=n)
                for n in range(1, 31)
            ]
            first = report(records, {"invalid_guid": 20, "too_long": 10, "disputed": 400})
            ack = await connector.heartbeat(Heartbeat(quarantine=first))
            assert ack.quarantine_digest == first.digest

            listed = await admin.quarantine("H-PS1", top=7)
            assert listed.total == 430, "counts cover more records than the report lists"
            assert listed.counts == {"disputed": 400, "invalid_guid": 20, "too_long": 10}
            assert listed.matched == 30
            assert [r.resource_id for r in listed.value] == [
                16777216 + n for n in range(30, 23, -1)
            ]
            assert listed.value[0] == records[29], "a record comes back exactly as reported"

            too_long = await admin.quarantine("H-PS1", reason="too_long", top=100, skip=8)
            assert too_long.matched == 10
            assert [r.resource_id for r in too_long.value] == [16777216 + 6, 16777216 + 3]

            # No report keeps the tenant's; the answer still names its digest.
            ack = await connector.heartbeat(Heartbeat())
            assert ack.quarantine_digest == first.digest
            assert (await admin.quarantine("H-PS1")).total == 430

            # A new report replaces the old one entirely; an empty one empties it.
            second = report([refused(99, "empty_value")], {"empty_value": 1})
            await connector.heartbeat(Heartbeat(quarantine=second))
            now = await admin.quarantine("H-PS1")
            assert (now.total, [r.resource_id for r in now.value]) == (1, [16777216 + 99])
            await connector.heartbeat(Heartbeat(quarantine=report([], {})))
            emptied = await admin.quarantine("H-PS1")
            assert (emptied.total, emptied.value) == (0, [])
            assert emptied.reported_at is not None
        await enrolled.session.close()


@MODULE
async def test_lists_are_scoped_to_the_tenant_and_checked(service: RunningService) -> None:
    _, token_a = await service.tenant_with_admin(f"quar-a-{uuid.uuid4().hex[:8]}")
    _, token_b = await service.tenant_with_admin(f"quar-b-{uuid.uuid4().hex[:8]}")
    async with admin_client(service, token_a) as admin_a, admin_client(service, token_b) as admin_b:
        enrolled = await connector_for(service, admin_a, "H-SHARED")
        async with enrolled.client as connector:
            held = report([refused(1)], {"invalid_guid": 1})
            await connector.heartbeat(Heartbeat(quarantine=held))
        # A report whose digest does not match its content is refused, and changes nothing.
        forged = {"quarantine": {**held.wire(), "counts": {"invalid_guid": 5}}}
        beat = f"{service.connector_url}/connector/v1/heartbeat"
        async with enrolled.session.post(beat, json=forged) as r:
            assert r.status == 400, await r.text()
            error = (await r.json())["error"]
        assert error["code"] == "invalid_body"
        assert "digest" in error["message"] or "digest" in str(error.get("details"))
        await enrolled.session.close()
        assert (await admin_a.quarantine("H-SHARED")).total == 1
        with pytest.raises(CloudApiError) as other_tenant:
            await admin_b.quarantine("H-SHARED")
        assert other_tenant.value.code == "not_found"
        with pytest.raises(CloudApiError) as bad_reason:
            await admin_a.quarantine("H-SHARED", reason="Not A Code")
        assert bad_reason.value.code == "invalid_query"
        with pytest.raises(CloudApiError) as too_many:
            await admin_a.quarantine("H-SHARED", top=5000)
        assert too_many.value.code == "invalid_query"
