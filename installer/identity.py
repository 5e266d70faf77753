"""The connector's identity at install time: enrollment, the heartbeat seen, renewal, detach.

Enrollment is the connector's own (`bridge.runtime.enrollment.enroll`): the
installer only chooses the key type, by leaving a key of that type as the
pending key it picks up, so the key is made here and kept 0600 before the
attach code is spent. Whether the connector's heartbeat reached the tenant
is read from the tenant's answer to the hierarchy registration, the call a
connector makes at every start, with the connector's own certificate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bridge.runtime.enrollment import (
    PENDING_KEY_FILE,
    ConnectorIdentity,
    csr_for,
    enroll,
    load_identity,
    renew_if_due,
    store_identity,
)
from bridge.runtime.runner import VERSION
from bridge.settings import ConnectorSettings
from bridge.tenant.connector import ConnectorClient
from cloud.contract.attach import HierarchyOut, HierarchyRegistration
from installer.layout import PRIVATE_FILE, InstallError, write_file
from installer.probe import error_message, request
from onprem.site_database import create_site_engine
from onprem.site_reader import SiteReader
from onprem.site_store import SiteIdentity


def new_key(key_type: str) -> bytes:
    """A private key (PKCS#8 PEM): EC P-256, or RSA 3072."""
    if key_type == "rsa-3072":
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = rsa.generate_private_key(65537, 3072)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def key_type_of(identity: ConnectorIdentity) -> str:
    """The key type of an enrolled identity."""
    key = serialization.load_pem_private_key(identity.key_pem, password=None)
    return "rsa-3072" if isinstance(key, rsa.RSAPrivateKey) else "ec-p256"


def site_identity(settings: ConnectorSettings) -> SiteIdentity:
    """Who the site is (its code, name and recorded hierarchy)."""
    engine = create_site_engine(settings.site.url(), must_exist=True)
    try:
        return SiteReader(engine).check()
    finally:
        engine.dispose()


def _anonymous(settings: ConnectorSettings) -> ConnectorClient:
    return ConnectorClient(
        settings.cloud.api_url,
        settings.cloud.connector_url,
        ca_pem=settings.cloud.ca_file.read_bytes(),
        allow_http=settings.cloud.allow_http,
        max_attempts=2,
    )


async def enroll_connector(
    settings: ConnectorSettings, site: SiteIdentity, attach_code: str, key_type: str
) -> ConnectorIdentity:
    """Spend the attach code for a certificate, for a key of `key_type` made here."""
    data_dir = settings.data_dir
    pending = data_dir / PENDING_KEY_FILE
    if not pending.exists():
        write_file(pending, new_key(key_type), PRIVATE_FILE)
    async with _anonymous(settings) as anonymous:
        return await enroll(
            anonymous,
            data_dir,
            attach_code=attach_code,
            hierarchy_id=settings.hierarchy_for(site.hierarchy_id),
            site_code=site.site_code or "XXX",
            version=VERSION,
        )


async def registration(
    settings: ConnectorSettings, identity: ConnectorIdentity, site: SiteIdentity
) -> HierarchyOut:
    """The tenant's record of the hierarchy, through the registration a connector start makes."""
    async with _anonymous(settings) as anonymous:
        client = anonymous.with_certificate(identity.chain_pem, identity.key_pem)
        async with client:
            return await client.register_hierarchy(
                HierarchyRegistration(
                    hierarchy_id=identity.hierarchy_id,
                    site_code=site.site_code or "XXX",
                    site_name=site.site_name,
                    site_version=site.version,
                    connector_version=VERSION,
                )
            )


def wait_for_heartbeat(
    settings: ConnectorSettings,
    site: SiteIdentity,
    before: datetime | None,
    deadline: float,
    running: Callable[[], bool],
) -> HierarchyOut | None:
    """The tenant's record once a heartbeat newer than `before` reached it; None at the deadline.

    Stops early (None) when `running()` turns false without a heartbeat.
    """
    identity = load_identity(settings.data_dir)
    assert identity is not None
    while True:
        record = asyncio.run(registration(settings, identity, site))
        seen = record.last_heartbeat_at
        if seen is not None and (before is None or seen > before):
            return record
        if time.monotonic() >= deadline or not running():
            return None
        time.sleep(1)


async def renew(settings: ConnectorSettings, *, force: bool) -> ConnectorIdentity | None:
    """Renew the certificate when due (or now, with `force`); the new identity, or None."""
    identity = load_identity(settings.data_dir)
    if identity is None:
        raise InstallError(
            f"the connector is not enrolled (no certificate in {settings.data_dir})",
            hint="install it with an attach code first: `cobridge install`",
        )
    async with _anonymous(settings) as anonymous:
        client = anonymous.with_certificate(identity.chain_pem, identity.key_pem)
        async with client:
            if not force:
                return await renew_if_due(client, settings.data_dir, identity)
            key_pem = new_key(key_type_of(identity))
            answer = await client.renew(csr_for(key_pem, identity.hierarchy_id))
            return store_identity(settings.data_dir, key_pem, answer)


def detach(settings: ConnectorSettings, hierarchy_id: str, token: str) -> str:
    """Detach the hierarchy at the tenant (admin token); what the tenant said."""
    if not settings.cloud.api_url:
        raise InstallError(
            "cannot detach: the configuration has no cloud.api_url",
            hint="detach the hierarchy in the admin center, or uninstall without --detach",
        )
    answer = request(
        settings.cloud.api_url,
        settings.cloud.ca_file,
        method="POST",
        path=f"/api/v1/hierarchies/{quote(hierarchy_id, safe='')}/detach",
        token=token,
    )
    if answer.status == 200:
        return f"hierarchy {hierarchy_id} detached at the tenant; its connectors are revoked"
    if answer.status == 404:
        return f"hierarchy {hierarchy_id} is not attached at the tenant (nothing to detach)"
    raise InstallError(
        f"the tenant refused to detach hierarchy {hierarchy_id}: {error_message(answer)}",
        hint="pass an admin token of this tenant (role admin) with --token or COBRIDGE_ADMIN_TOKEN",
    )
