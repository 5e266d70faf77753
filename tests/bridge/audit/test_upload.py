"""The connector sends its audit log to the tenant, which verifies it: real appends, real HTTPS.

Entries appended before enrollment (local key) and after it (the enrolled
key, with the `audit.signer-changed` entry that vouches for the local one)
reach the tenant, which reports the chain verified against its own CA. The
acknowledged head is remembered with its chain: a second run sends nothing,
a lost cursor (or one of another chain) only resends what the tenant skips,
a cursor ahead of the tenant restarts from the tenant's head; the heartbeat
runs the upload after each answer, and the running connector sends its log
after its first cycle. A connector reinstalled with a fresh state store
sends its new chain, which the tenant takes as the current one; the old
connector's later entries are refused, and the refusal is on record.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from bridge.audit import AuditEvent, append, load_signer, verify_state
from bridge.audit.upload import SOURCE, AuditUpload, UploadCursor
from bridge.runtime.enrollment import enroll
from bridge.runtime.heartbeat import HeartbeatReporter
from bridge.runtime.observability import ConnectorMetrics
from bridge.runtime.runner import ConnectorRunner
from bridge.settings import ConnectorSettings
from bridge.state import ConnectorState
from bridge.tenant.admin import AdminClient
from bridge.tenant.connector import ConnectorClient
from cloud.contract.attach import HierarchyRegistration
from tests.support.cloud_service import RunningService
from tests.support.connector_config import write_config
from tests.support.sync_rig import seeded_site
from tests.support.tenant_clients import admin_client

HIERARCHY = "H-UPLOAD"


def now() -> datetime:
    """The connector's clock."""
    return datetime.now(UTC)


def record(state: ConnectorState, data_dir: Path, *numbers: int) -> None:
    """Append one `workload.set` entry per number with the signer now in force."""
    signer = load_signer(data_dir)
    for n in numbers:
        event = AuditEvent("cli:ana", "workload.set", "compliancePolicy", {"n": n})
        append(state, signer, event, now=now())


class Site:
    """A connector's data directory and state, enrolled in a fresh tenant of the service."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.state = ConnectorState.open(None, data_dir=data_dir)
        self.admin: AdminClient
        self.connector: ConnectorClient
        self.instance = ""
        self.connector_id = ""

    async def attach(self, service: RunningService, admin: AdminClient) -> None:
        """Enroll this data directory's connector for HIERARCHY and register the hierarchy."""
        self.admin = admin
        code = await admin.create_attach_code(hierarchy_id=HIERARCHY)
        async with ConnectorClient(
            None, service.connector_url, ca_pem=service.root_pem
        ) as anonymous:
            identity = await enroll(
                anonymous,
                self.data_dir,
                attach_code=code.code,
                hierarchy_id=HIERARCHY,
                site_code="PS1",
                version="test",
            )
            self.connector = anonymous.with_certificate(identity.chain_pem, identity.key_pem)
        await self.connector.register_hierarchy(
            HierarchyRegistration(hierarchy_id=HIERARCHY, site_code="PS1")
        )
        self.instance = f"{identity.tenant_id}/{identity.hierarchy_id}"
        self.connector_id = identity.connector_id


@pytest_asyncio.fixture
async def site(service: RunningService, tmp_path: Path) -> AsyncIterator[Site]:
    """Two entries signed before enrollment, then an enrolled, registered connector."""
    site = Site(tmp_path / "connector")
    record(site.state, site.data_dir, 1, 2)
    _, token = await service.tenant_with_admin(f"up-{uuid.uuid4().hex[:8]}")
    await site.attach(service, admin_client(service, token))
    try:
        yield site
    finally:
        await site.connector.close()
        await site.admin.close()
        site.state.close()


def upload(site: Site, batch: int = 4) -> AuditUpload:
    """The connector's upload, in small batches so a run takes several."""
    return AuditUpload(site.state, site.connector, instance=site.instance, clock=now, batch=batch)


@pytest.mark.asyncio
async def test_the_tenant_verifies_what_the_connector_appended(site: Site) -> None:
    record(site.state, site.data_dir, 3, 4, 5)  # the enrolled key: a signer change comes first
    assert verify_state(site.state, site.data_dir).ok
    assert site.state.audit.head().seq == 6  # type: ignore[union-attr]

    report = await upload(site).run()
    assert (report.sent, report.stored, report.error) == (6, 6, None)
    assert (report.chain_state, report.head_seq) == ("verified", 6)

    log = await site.admin.connector_audit_log(HIERARCHY)
    chain = log.chain
    assert (chain.state, chain.entries, chain.verified_through_seq) == ("verified", 6, 6)
    assert chain.head_hash == site.state.audit.head().entry_hash  # type: ignore[union-attr]
    assert [e.action for e in log.value][3] == "audit.signer-changed"
    kinds = {s.kind: s.trusted_because for s in log.signers}
    assert kinds["local"] == "vouched for by entry 3, signed by its successor"
    assert kinds["connector"] is not None
    assert kinds["connector"].endswith("issued by this tenant's CA")

    again = await upload(site).run()
    assert (again.sent, again.error) == (0, None), "the acknowledged head is remembered"
    stored = site.state.sources.get(SOURCE)
    assert stored is not None
    cursor = UploadCursor.parse(stored.cursor)
    assert (cursor.chain, cursor.seq) == (site.state.audit.entries()[0].entry_hash, 6)
    assert cursor.chain == log.chain.chain_id, "the tenant names the chain by its entry 1"
    record(site.state, site.data_dir, 6)
    one = await upload(site).run()
    assert (one.sent, one.stored, one.head_seq) == (1, 1, 7)


@pytest.mark.asyncio
async def test_a_lost_or_wrong_cursor_costs_resends_only(site: Site) -> None:
    record(site.state, site.data_dir, 3)
    assert (await upload(site).run()).stored == 4
    # Forgotten (another instance): everything is sent again and skipped.
    with site.state.transaction() as tx:
        tx.sources.save(SOURCE, "elsewhere", None, now=now())
    resent = await upload(site).run()
    assert (resent.sent, resent.stored, resent.chain_state) == (4, 0, "verified")
    # Of another chain (the state store was replaced): ignored, everything is sent again.
    entries = site.state.audit.entries()
    foreign = UploadCursor("ab" * 32, entries[-1].seq, entries[-1].entry_hash)
    with site.state.transaction() as tx:
        tx.sources.save(SOURCE, site.instance, foreign.text(), now=now())
    resent = await upload(site).run()
    assert (resent.sent, resent.stored, resent.error) == (4, 0, None)
    # Ahead of the tenant: refused with the tenant's head, and resumed from it.
    record(site.state, site.data_dir, 4, 5, 6)
    entries = site.state.audit.entries()
    ahead = UploadCursor(entries[0].entry_hash, entries[5].seq, entries[5].entry_hash)
    with site.state.transaction() as tx:
        tx.sources.save(SOURCE, site.instance, ahead.text(), now=now())
    resumed = await upload(site).run()
    assert (resumed.stored, resumed.head_seq, resumed.error) == (3, 7, None)
    log = await site.admin.connector_audit_log(HIERARCHY)
    assert (log.chain.state, log.chain.entries) == ("verified", 7)


@pytest.mark.asyncio
async def test_each_heartbeat_sends_what_the_tenant_lacks(site: Site, tmp_path: Path) -> None:
    config = tmp_path / "connector.toml"
    config.write_text(
        f'data_dir = "{site.data_dir}"\n[site]\ndb = "{tmp_path / "site.db"}"\n'
        f'[cloud]\nconnector_url = "https://127.0.0.1:1"\nca_file = "{tmp_path / "ca.pem"}"\n'
    )
    sender = upload(site)
    reporter = HeartbeatReporter(
        site.connector,
        site.state,
        ConnectorSettings.load(config),
        ConnectorMetrics(),
        version="test",
        clock=now,
        after_beat=sender.run,
    )
    await reporter.beat()
    assert (await site.admin.connector_audit_log(HIERARCHY)).chain.entries == 2
    record(site.state, site.data_dir, 3)
    await reporter.beat()
    chain = (await site.admin.connector_audit_log(HIERARCHY)).chain
    assert (chain.entries, chain.state) == (4, "verified")


@pytest.mark.asyncio
async def test_entries_from_before_enrollment_are_vouched_for_at_once(site: Site) -> None:
    sender = AuditUpload(
        site.state, site.connector, instance=site.instance, clock=now, data_dir=site.data_dir
    )
    report = await sender.run()
    assert (report.sent, report.chain_state) == (3, "verified")
    entries = site.state.audit.entries()
    assert entries[-1].action == "audit.signer-changed"
    assert verify_state(site.state, site.data_dir).ok
    assert (await sender.run()).sent == 0, "handed over once"


@pytest.mark.asyncio
async def test_the_running_connector_sends_its_log(service: RunningService, tmp_path: Path) -> None:
    seeded_site(tmp_path / "site.db", 20, seed=5).dispose()
    _, token = await service.tenant_with_admin(f"run-{uuid.uuid4().hex[:8]}")
    async with admin_client(service, token) as admin:
        settings = ConnectorSettings.load(
            write_config(tmp_path, service, (await admin.create_attach_code()).code)
        )
        with ConnectorState.open(None, data_dir=settings.data_dir) as state:
            record(state, settings.data_dir, 1, 2)  # before the connector ever enrolled
        runner = ConnectorRunner(settings)
        assert await asyncio.wait_for(runner.run(once=True), 60) == 0
        # After the heartbeat that follows the cycle, at the latest (an earlier one may send).
        report = runner.last_audit_upload
        assert report is not None
        assert report.error is None
        [hierarchy] = await admin.list_hierarchies()
        log = await admin.connector_audit_log(hierarchy.hierarchy_id)
        assert (log.chain.state, log.chain.entries, log.chain.verified_through_seq) == (
            "verified",
            3,
            3,
        )


@pytest.mark.asyncio
async def test_a_reinstalled_connector_supersedes_the_old_chain(
    site: Site, service: RunningService, tmp_path: Path
) -> None:
    record(site.state, site.data_dir, 3, 4)
    first = await upload(site).run()
    assert (first.stored, first.chain_state, first.error) == (5, "verified", None)
    old_chain = site.state.audit.entries()[0].entry_hash

    # Installed again beside it: a new data directory, state store, key and certificate.
    again = Site(tmp_path / "reinstalled")
    await again.attach(service, site.admin)
    try:
        record(again.state, again.data_dir, 1, 2, 3)
        new_chain = again.state.audit.entries()[0].entry_hash
        assert new_chain != old_chain
        report = await upload(again).run()
        assert (report.sent, report.stored, report.error) == (3, 3, None)
        assert (report.chain_state, report.head_seq) == ("verified", 3)

        log = await site.admin.connector_audit_log(HIERARCHY)
        assert (log.chain.chain_id, log.chain.entries) == (new_chain, 3)
        assert [(c.chain_id, c.current) for c in log.chains] == [
            (new_chain, True),
            (old_chain, False),
        ]
        superseded = log.chains[1]
        assert (superseded.state, superseded.head_seq, superseded.superseded_by) == (
            "verified",
            5,
            new_chain,
        )

        # The old connector appends on and sends: refused, nothing more is sent or stored.
        record(site.state, site.data_dir, 5)
        late = await upload(site).run()
        assert (late.sent, late.stored) == (0, 0)
        assert late.error is not None
        assert "superseded" in late.error
        log = await site.admin.connector_audit_log(HIERARCHY)
        assert [c.head_seq for c in log.chains] == [3, 5]
        refusal = log.last_refusal
        assert refusal is not None
        assert (refusal.code, refusal.connector_id, refusal.chain_id) == (
            "audit_chain_superseded",
            site.connector_id,
            old_chain,
        )
        assert not refusal.accepted_since
        # The reinstalled connector goes on.
        record(again.state, again.data_dir, 4)
        assert (await upload(again).run()).stored == 1
    finally:
        await again.connector.close()
        again.state.close()
