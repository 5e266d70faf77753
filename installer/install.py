"""`cobridge install`: check, write, enroll, start, and wait for the first heartbeat.

Nothing is written before every prerequisite check has run; a FAIL stops an
unattended install there (unless forced) and an interactive one asks. Then
the files are written (idempotently), the written configuration is loaded
the way the connector loads it (so its secret references are proven to
resolve), the connector enrolls unless it already has, and it is started:
by systemd on a real install, otherwise once as a child process. The install
ends when the tenant has recorded a heartbeat newer than the one it had.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from dataclasses import dataclass, field
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from bridge.runtime.enrollment import load_identity
from bridge.settings import ConnectorSettings
from cloud.contract.attach import HierarchyOut
from installer.answers import InstallAnswers
from installer.checks import CheckInput
from installer.files import plan, write_install
from installer.identity import enroll_connector, registration, site_identity, wait_for_heartbeat
from installer.layout import InstallError, Layout
from installer.prerequisites import failed, print_results, run_checks
from installer.render import run_command
from installer.service import FirstRun, ensure_service_user, start_service, systemd_available


def check_input(answers: InstallAnswers, layout: Layout) -> CheckInput:
    """What the prerequisite checks look at for these answers and this layout."""
    site, cloud, directory = answers.to_settings()
    return CheckInput(
        site=site,
        cloud=cloud,
        directory=directory,
        metrics_host=answers.service.metrics_host,
        metrics_port=answers.service.metrics_port,
        actions_enabled=answers.actions.enabled,
        actions=answers.actions_settings(),
        layout=layout,
        installed=layout.config.exists(),
        enrolled=load_identity(layout.data_dir) is not None,
        attach_code=answers.cloud.attach_code is not None,
    )


@dataclass
class Install:
    """One run of `cobridge install`; `report` is what `--json` prints."""

    answers: InstallAnswers
    layout: Layout
    out: Console
    force: bool = False
    dry_run: bool = False
    interactive: bool = False
    debug: bool = False
    report: dict[str, Any] = field(default_factory=dict)

    def check(self) -> CheckInput:
        """The prerequisite checks, printed and reported; `InstallError` on a FAIL (unless forced)."""
        target = check_input(self.answers, self.layout)
        results = run_checks(target, debug=self.debug)
        self.report["checks"] = [r.model_dump() for r in results]
        self.report["failed"] = len(failed(results))
        print_results(results, self.out, title="Prerequisites")
        bad = failed(results)
        if bad and not self.force:
            names = ", ".join(r.name for r in bad)
            if self.interactive and click.confirm(f"{len(bad)} check(s) failed. Install anyway?"):
                return target
            raise InstallError(
                f"{len(bad)} prerequisite check(s) failed ({names}): nothing was written",
                hint="fix each FAIL as its row says and run the install again, "
                "or pass --force to install anyway",
            )
        return target

    def run(self) -> None:
        """The whole install."""
        self.report.update(installed=False, prefix=str(self.layout.prefix))
        self.check()
        if self.dry_run:
            self._show_plan()
            return
        if self.interactive and not click.confirm("Write the files and enroll?", default=True):
            raise InstallError("stopped before writing anything", hint="run the install again")
        use_systemd = systemd_available(self.layout)
        written = write_install(
            self.answers, self.layout, service="systemd" if use_systemd else "none"
        )
        self.report["written"] = written
        self.out.print(f"wrote {len(written)} file(s)" if written else "every file was up to date")
        settings = ConnectorSettings.load(self.layout.config)
        site = site_identity(settings)
        self._enroll(settings, site)
        self._start(settings, site, use_systemd)
        self.report["installed"] = True
        self._next_steps(settings, use_systemd)

    def _show_plan(self) -> None:
        self.out.print("[bold]Dry run[/bold]: nothing was written. An install would write:")
        for item in plan(self.answers, self.layout):
            self.out.print(f"  {item.mode:04o}  {escape(str(item.path))}  ({item.what})")
        self.report["plan"] = [str(item.path) for item in plan(self.answers, self.layout)]

    def _enroll(self, settings: ConnectorSettings, site: Any) -> None:
        identity = load_identity(settings.data_dir)
        if identity is not None:
            self.out.print(
                f"already enrolled as connector {identity.connector_id}: no new enrollment"
            )
        else:
            code = self.answers.cloud.attach_code
            if code is None:
                raise InstallError(
                    "the connector is not enrolled and no attach code is given",
                    hint="create one in the admin center and give it as [cloud] attach_code",
                )
            self.out.print(f"enrolling with a new {self.answers.cloud.key_type} key ...")
            identity = asyncio.run(
                enroll_connector(
                    settings, site, code.get_secret_value().strip(), self.answers.cloud.key_type
                )
            )
            self.out.print(f"enrolled as connector {identity.connector_id} (key mode 0600)")
        self.report.update(connector_id=identity.connector_id, hierarchy_id=identity.hierarchy_id)

    def _start(self, settings: ConnectorSettings, site: Any, use_systemd: bool) -> None:
        identity = load_identity(settings.data_dir)
        assert identity is not None
        before = asyncio.run(registration(settings, identity, site)).last_heartbeat_at
        wait = self.answers.service.wait_seconds
        deadline = time.monotonic() + wait
        if use_systemd:
            ensure_service_user(self.layout)
            start_service()
            seen = wait_for_heartbeat(settings, site, before, deadline, lambda: True)
            where = "journalctl -u cobridge-connector"
        else:
            self.out.print("running the connector once (the first sync) ...")
            seen = self._first_run(settings, site, before, deadline)
            where = str(self.layout.first_run_log)
        if seen is None:
            raise InstallError(
                f"no heartbeat reached the tenant within {wait:.0f} s",
                hint=f"see {where}, and run `cobridge doctor --prefix {self.layout.prefix}`",
            )
        moment = seen.last_heartbeat_at
        self.report["heartbeat_at"] = moment.isoformat() if moment else None
        self.out.print(
            f"[green]heartbeat received[/green] by the tenant at {moment:%Y-%m-%d %H:%M:%S} UTC "
            f"(hierarchy {seen.hierarchy_id})"
        )
        first = self.report.get("first_run")
        if first and first["finished"]:
            record = asyncio.run(registration(settings, identity, site))
            self.out.print(f"first sync finished: {record.device_count} device(s) at the tenant")
        elif first:
            self.out.print(
                "the first sync was stopped at the time limit; it resumes at the next start"
            )

    def _first_run(
        self, settings: ConnectorSettings, site: Any, before: Any, deadline: float
    ) -> HierarchyOut | None:
        """Run the connector once as a child; the tenant's record once its heartbeat arrived."""
        child = FirstRun(self.layout)
        try:
            seen = wait_for_heartbeat(settings, site, before, deadline, child.running)
            finished = child.wait(deadline - time.monotonic()) is not None
        finally:
            code = child.stop()
        self.report["first_run"] = {"finished": finished, "exit": code, "log": str(child.log_path)}
        if finished and code != 0:
            raise InstallError(
                f"the connector's first run failed (exit {code}); its last log lines:\n"
                + child.tail(),
                hint=f"see {child.log_path}, fix what it says, and run the install again",
            )
        return seen

    def _next_steps(self, settings: ConnectorSettings, use_systemd: bool) -> None:
        command = shlex.join(run_command(self.layout))
        admin = settings.cloud.api_url or "(the admin center of your tenant)"
        self.report.update(
            admin_center=settings.cloud.api_url, run=None if use_systemd else command
        )
        self.out.print("\n[bold]Installed.[/bold] Next steps:")
        self.out.print(f"  1. Open the admin center: {escape(admin)}/ (Connectors, then Devices)")
        if use_systemd:
            self.out.print("  2. The service runs: systemctl status cobridge-connector")
        else:
            self.out.print("  2. No systemd here: run the connector with")
            self.out.print(f"       {escape(command)}")
        self.out.print(
            f"  3. Its health: cobridge status --config {escape(str(self.layout.config))}"
        )
        self.out.print(
            f"  4. Re-run these checks any time: cobridge doctor --prefix {escape(str(self.layout.prefix))}"
        )
