"""Running the installed connector: the systemd service, or a first run as a child process.

systemd is used only for a real install (prefix `/`) on a host where it runs;
then the dedicated user is created and owns the configuration and data
directories. Otherwise the installer runs `connector run --once` itself, its
log kept in the data directory (mode 0600), and prints the command to run it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from installer.layout import SERVICE_USER, UNIT_NAME, InstallError, Layout
from installer.render import cobridge_command

STOP_SECONDS = 45  # the connector lets batches in flight finish (30 s) on SIGTERM


def systemd_available(layout: Layout) -> bool:
    """Whether to hand the connector to systemd: a real install on a host where it runs."""
    return (
        layout.is_root_prefix
        and Path("/run/systemd/system").is_dir()
        and shutil.which("systemctl") is not None
    )


def systemctl(*args: str) -> None:
    """Run `systemctl ARGS`; `InstallError` with its message when it fails."""
    command = ["systemctl", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise InstallError(
            f"systemctl {' '.join(args)} failed: {done.stderr.strip() or done.returncode}",
            hint=f"see `journalctl -u {UNIT_NAME}`",
        )


def ensure_service_user(layout: Layout) -> None:
    """Create the dedicated system user (no login, no home of its own) and give it the files."""
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        nologin = shutil.which("nologin") or "/usr/sbin/nologin"
        subprocess.run(  # noqa: S603
            ["useradd", "--system", "--user-group", "--no-create-home",  # noqa: S607
             "--home-dir", str(layout.data_dir), "--shell", nologin, SERVICE_USER],
            check=True, capture_output=True,
        )  # fmt: skip
    user = pwd.getpwnam(SERVICE_USER)
    for top in (layout.config_dir, layout.data_dir):
        for path in [top, *top.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid)


def start_service() -> None:
    """Enable the unit and (re)start it."""
    systemctl("daemon-reload")
    systemctl("enable", UNIT_NAME)
    systemctl("restart", UNIT_NAME)


def stop_service(layout: Layout) -> bool:
    """Stop and disable the unit when systemd manages it; whether it did."""
    if not (systemd_available(layout) and layout.unit.exists()):
        return False
    systemctl("disable", "--now", UNIT_NAME)
    return True


def _child_env() -> dict[str, str]:
    # The installed connector reads its file only, as the service would.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COBRIDGE_CONNECTOR_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class FirstRun:
    """`cobridge connector run --once` on the installed configuration, logging to a file."""

    def __init__(self, layout: Layout) -> None:
        self.log_path = layout.first_run_log
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._log = os.fdopen(fd, "wb")
        args = [*cobridge_command(), "connector", "run", "--config", str(layout.config), "--once"]
        self.proc = subprocess.Popen(  # noqa: S603
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=_child_env(),
            start_new_session=True,
            umask=0o077,  # as the unit's UMask: what the connector creates stays private
        )

    def running(self) -> bool:
        """Whether the child is still running."""
        return self.proc.poll() is None

    def wait(self, seconds: float) -> int | None:
        """Its exit code, or None if it still runs after `seconds`."""
        try:
            return self.proc.wait(timeout=max(seconds, 0))
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> int:
        """SIGTERM (batches in flight finish; the rest stays in the outbox); its exit code."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def tail(self, lines: int = 8) -> str:
        """The last lines of its log (JSON lines, which never hold secrets)."""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])
