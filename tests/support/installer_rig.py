"""The installer tests' world: a cloud service process, a tenant, a seeded site, and the commands.

`installer_rig` seeds a site (PostgreSQL with a password in its URL when
COBRIDGE_TEST_PG_URL names a server, so that a database password exists to
be leaked; SQLite otherwise), starts `cobridge cloud serve` and makes a
tenant. `Rig.answers` writes an answers file whose secrets are `env:`
references, and `Rig.env` the environment that holds them. `files_holding`
searches every file under a directory for secrets.

The installer test modules share one rig for the session (the `rig`
fixture): they load this module with `pytest_plugins`, after importing its
names, hence PYTEST_DONT_REWRITE (it has no asserts to rewrite).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from bridge.tenant.admin import AdminClient
from cloud.contract.attach import ConnectorOut, HierarchyOut
from installer.answers import InstallAnswers
from installer.checks import CheckResult
from installer.console import cli
from installer.install import check_input
from installer.layout import Layout
from installer.prerequisites import run_checks
from tests.support.pg import PG_ENV, throwaway_pg_database
from tests.support.system_processes import (
    COBRIDGE,
    ServiceProcess,
    Tenant,
    clean_env,
    create_tenant,
)
from tests.support.system_sites import seed

DB_PASSWORD = "Db-Pa55-for-the-installer-test"
UNSPENT_CODE = "an-attach-code-never-spent-here"
ATTACH_ENV = "COBRIDGE_TEST_ATTACH_CODE"
PASSWORD_ENV = "COBRIDGE_TEST_SITE_PASSWORD"


@dataclass
class Rig:
    """A running service with a tenant, and a seeded site."""

    root: Path
    service: ServiceProcess
    tenant: Tenant
    site_db: str  # as the connector reaches it (password included)
    site_answer: str  # as the answers file names it (password apart)
    db_password: str | None

    def answers(self, path: Path, **sections: Mapping[str, Any]) -> Path:
        """An answers file for this rig; `sections` override or add keys per section."""
        values: dict[str, dict[str, Any]] = {
            "site": {"db": self.site_answer},
            "cloud": {
                "connector_url": self.service.connector_url,
                "api_url": self.service.api_url,
                "ca_file": str(self.service.root_pem),
                "attach_code": f"env:{ATTACH_ENV}",
            },
            "service": {"metrics_port": 0, "wait_seconds": 90},
        }
        if self.db_password:
            values["site"]["password"] = f"env:{PASSWORD_ENV}"
        for name, keys in sections.items():
            values.setdefault(name, {}).update(keys)
        path.write_text(toml(values))
        return path

    def install_answers(self, **sections: Mapping[str, Any]) -> InstallAnswers:
        """Answers for this rig, secrets given as they are (no file is written)."""
        values: dict[str, dict[str, Any]] = {
            "site": {"db": self.site_answer, "password": self.db_password},
            "cloud": {
                "connector_url": self.service.connector_url,
                "api_url": self.service.api_url,
                "ca_file": str(self.service.root_pem),
                "attach_code": UNSPENT_CODE,
            },
            "service": {"metrics_port": 0},
        }
        for name, keys in sections.items():
            values.setdefault(name, {}).update(keys)
        return InstallAnswers.model_validate(values)

    def env(self, attach_code: str | None) -> dict[str, str]:
        """The environment holding the secrets the answers file refers to."""
        env = {PASSWORD_ENV: self.db_password} if self.db_password else {}
        return env | ({ATTACH_ENV: attach_code} if attach_code else {})

    def hierarchies(self) -> list[HierarchyOut]:
        """The tenant's hierarchies, through the admin API."""

        async def listing() -> list[HierarchyOut]:
            async with self.admin_client() as client:
                return await client.list_hierarchies()

        return asyncio.run(listing())

    def connectors(self) -> list[ConnectorOut]:
        """The tenant's connectors, through the admin API."""

        async def listing() -> list[ConnectorOut]:
            async with self.admin_client() as client:
                return await client.list_connectors()

        return asyncio.run(listing())

    def admin_client(self) -> AdminClient:
        """A client of the admin API with the tenant admin's token."""
        ca = self.service.root_pem.read_bytes()
        return AdminClient(self.service.api_url, None, ca_pem=ca, token=self.tenant.token)


def prerequisites(given: InstallAnswers, prefix: Path) -> dict[str, CheckResult]:
    """The prerequisite checks of an install of `given` into `prefix`, by name."""
    results = run_checks(check_input(given, Layout(prefix)), debug=True)
    return {r.name: r for r in results}


def shown(results: dict[str, CheckResult], secrets: list[str | None]) -> list[str]:
    """The secrets that appear anywhere in `results` (none should)."""
    text = json.dumps([r.model_dump() for r in results.values()])
    return [s for s in secrets if s and s in text]


def toml(values: Mapping[str, Mapping[str, Any]]) -> str:
    """A TOML document of tables of scalars and lists (JSON strings are TOML strings)."""
    lines = []
    for name, keys in values.items():
        lines.append(f"[{name}]")
        for key, value in keys.items():
            text = str(value).lower() if isinstance(value, bool) else json.dumps(value)
            lines.append(f"{key} = {text}")
        lines.append("")
    return "\n".join(lines)


def cobridge(
    *args: str, env: Mapping[str, str] | None = None, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`cobridge ARGS` to its end, with the test's extra environment."""
    return subprocess.run(
        [COBRIDGE, *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=clean_env(**(env or {})),
        input=input_text,
        check=False,
    )


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, input_text: str | None = None
) -> Result:
    """`cobridge ARGS` in this process (the console script's own group), for the quick commands."""
    return CliRunner().invoke(cli, list(args), env=dict(env or {}), input=input_text)


def install(
    answers: Path, prefix: Path, *extra: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`cobridge install --answers ANSWERS --prefix PREFIX [EXTRA]`."""
    return cobridge("install", "--answers", str(answers), "--prefix", str(prefix), *extra, env=env)


@contextlib.contextmanager
def _site(root: Path, devices: int) -> Iterator[tuple[str, str, str | None]]:
    if not os.environ.get(PG_ENV, "").strip():
        path = str(root / "site.db")
        seed(path, devices, 11)
        yield path, path, None
        return
    with throwaway_pg_database("cobridge_inst") as url:
        answer = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with_password = sa.make_url(answer).set(password=DB_PASSWORD)
        full = with_password.render_as_string(hide_password=False)
        seed(full, devices, 11)
        yield full, answer, DB_PASSWORD


@contextlib.contextmanager
def installer_rig(root: Path, *, devices: int = 300) -> Iterator[Rig]:
    """A seeded site, a running service and a tenant, under `root`."""
    with (
        _site(root, devices) as (site_db, site_answer, password),
        ServiceProcess(root / "cloud") as service,
    ):
        tenant = create_tenant(service, "installer")
        yield Rig(root, service, tenant, site_db, site_answer, password)


@pytest.fixture(scope="session")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """One rig for every installer test module of the session."""
    with installer_rig(tmp_path_factory.mktemp("installer")) as world:
        yield world


def files_holding(root: Path, secrets: list[str]) -> list[str]:
    """Every file under `root` whose bytes contain one of `secrets` (and which)."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path}: {s[:4]}..." for s in secrets if s and s.encode() in data]
    return found


def digests(paths: list[Path]) -> dict[str, bytes]:
    """Each file's bytes, to compare two moments."""
    return {str(p): p.read_bytes() for p in paths}
