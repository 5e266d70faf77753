"""A world for directory tests: an OU of computers on the Samba DC, a small site, a state store.

Each test fills an OU of its own (the shared domain stays as it was) and
edits a few site records so that their DN, or NetBIOS name and domain, name
one of its computers: M1 by DN, M2 by NetBIOS name and domain, M3 with two
candidates (disputed), M4 and M5 (disabled) in AD only.

Test modules load it with `pytest_plugins` after importing its names, hence
PYTEST_DONT_REWRITE (it has no asserts to rewrite).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ldap3
import pytest
import sqlalchemy as sa

from bridge.directory import DirectoryPass
from bridge.state import ConnectorState
from bridge.state.directory import DirectoryComputer
from onprem.directory import DirectoryReader
from onprem.site_schema import v_R_System
from tests.support.samba_dc import DOMAIN_DN, SambaDC
from tests.support.sync_rig import seeded_site


def clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class World:
    """An OU of computers, a site whose records point at some of them, a state store."""

    admin: ldap3.Connection
    ou: str
    prefix: str
    site: sa.Engine
    state: ConnectorState
    dc: SambaDC
    smsids: list[str]
    data_dir: Path

    def add(self, name: str, **attributes: object) -> str:
        dn = f"CN={self.prefix}{name},{self.ou}"
        account = {"sAMAccountName": f"{self.prefix}{name}$", "userAccountControl": 4096}
        self.admin.add(dn, ["computer"], account | attributes)
        return dn

    def directory_pass(self, base: str | None = None) -> DirectoryPass:
        reader = DirectoryReader(self.dc.config(base_dns=[base or self.ou]))
        return DirectoryPass(reader, self.site, self.state, clock=clock)

    def edit_site(self, smsid: str, **values: Any) -> None:
        with self.site.begin() as conn:
            conn.execute(
                v_R_System.update().where(v_R_System.c.SMS_Unique_Identifier0 == smsid),
                values,
            )

    def rows(self) -> dict[str, DirectoryComputer]:
        """Stored computers by name (without the test's prefix)."""
        return {c.name.removeprefix(self.prefix): c for c in self.state.directory.all()}


@pytest.fixture
def world(samba_dc: SambaDC, tmp_path: Path) -> Iterator[World]:
    dc = samba_dc.ensure(allow_plain=False)
    admin = dc.admin()
    prefix = f"M{uuid.uuid4().hex[:6].upper()}"
    ou = f"OU={prefix},{DOMAIN_DN}"
    admin.add(ou, ["organizationalUnit"])
    site = seeded_site(tmp_path / "site.db", 12)
    with site.connect() as conn:
        smsids = list(
            conn.execute(
                sa.select(v_R_System.c.SMS_Unique_Identifier0)
                .where(sa.func.coalesce(v_R_System.c.Obsolete0, 0) == 0)
                .where(sa.func.coalesce(v_R_System.c.Decommissioned0, 0) == 0)
                .where(v_R_System.c.ResourceType == 5)
                .order_by(v_R_System.c.ResourceID)
            ).scalars()
        )
    state = ConnectorState.open(None, data_dir=tmp_path / "data")
    made = World(admin, ou, prefix, site, state, dc, smsids, tmp_path / "data")
    # M1 by DN (case differs), M2 by NetBIOS name + domain, M3 two candidates,
    # M4 and M5 (disabled) in AD only.
    live = {"Client0": 1, "Active0": 1, "Obsolete0": 0, "Decommissioned0": 0}
    made.edit_site(smsids[0], Distinguished_Name0=f"cn={prefix}M1,{ou}".upper(), **live)
    for i, name in ((1, "M2"), (2, "M3"), (3, "M3")):
        made.edit_site(
            smsids[i],
            Netbios_Name0=f"{prefix}{name}".lower(),
            Resource_Domain_OR_Workgr0="COBRIDGE",
            Distinguished_Name0=f"CN={prefix}{name},OU=Elsewhere,{DOMAIN_DN}",
            **live,
        )
    for name in ("M1", "M2", "M3", "M4"):
        made.add(name, operatingSystem="Windows 11 Enterprise")
    made.add("M5", userAccountControl=4098)
    yield made
    state.close()
    site.dispose()
    admin.search(ou, "(objectClass=computer)", attributes=[])
    for entry in list(admin.response):
        with contextlib.suppress(ldap3.core.exceptions.LDAPNoSuchObjectResult):
            admin.delete(entry["dn"])
    admin.delete(ou)
