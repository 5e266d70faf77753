"""The cloud service as a real process, and the `cobridge` commands, for the system fault tests.

`ServiceProcess` runs `cobridge cloud serve` on ephemeral ports (SQLite in its
data directory, or a PostgreSQL store); `create_tenant` makes a tenant, an
admin, a token and attach codes through the `cobridge cloud` commands, as an
operator would. `cli` runs any other command; `OutputLines` keeps what a child
writes to a pipe so a test can wait for a line. The connector's process is in
`tests.support.system_connector`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

COBRIDGE = str(Path(sys.executable).with_name("cobridge"))


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without cobridge settings of its own, plus `overrides`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COBRIDGE_CONNECTOR_", "COBRIDGE_CLOUD_"))
    }
    env.pop("COBRIDGE_SITE_DB", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def cli(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `cobridge ARGS` to completion; raise with its output when it fails and `check`."""
    done = subprocess.run(
        [COBRIDGE, *args], capture_output=True, text=True, timeout=timeout, env=clean_env()
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"cobridge {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return done


class OutputLines:
    """The lines a child writes to a pipe, collected by a thread so the pipe never fills."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        stream.close()

    def wait_for(
        self, found: Callable[[list[str]], Any], timeout: float, alive: Callable[[], bool]
    ) -> Any:
        """The first truthy `found(lines)`; raise on timeout or when the child ends first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = found(self.lines)
                if result:
                    return result
                if not alive() and not self._thread.is_alive():
                    raise AssertionError("the process ended first:\n" + self.tail())
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"not seen within {timeout:.0f} s:\n" + self.tail())
                self._changed.wait(min(left, 0.2))

    def tail(self, count: int = 25) -> str:
        """The last lines, for failure messages."""
        return "\n".join(self.lines[-count:])


@dataclass
class ServiceProcess:
    """`cobridge cloud serve` on ephemeral loopback ports until `stop()`."""

    data_dir: Path
    db: str | None = None
    extra: tuple[str, ...] = ()
    api_url: str = ""
    connector_url: str = ""
    _proc: subprocess.Popen[str] | None = field(default=None, repr=False)
    _err: OutputLines | None = field(default=None, repr=False)

    @property
    def store_args(self) -> list[str]:
        """--data-dir (and --db) for the `cobridge cloud` commands on this store."""
        return ["--data-dir", str(self.data_dir), *(["--db", self.db] if self.db else [])]

    @property
    def root_pem(self) -> Path:
        """The service root certificate the service wrote at start."""
        return self.data_dir / "service-root.pem"

    def start(self) -> Self:
        """Start and wait until both listeners are announced."""
        args = ["cloud", "serve", *self.store_args, "--port", "0", "--connector-port", "0"]
        self._proc = subprocess.Popen(
            [COBRIDGE, *args, *self.extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        self._err = OutputLines(self._proc.stderr)

        def ports(lines: list[str]) -> tuple[str, str] | None:
            text = "\n".join(lines)
            api = re.search(r"API (https://\S+)", text)
            connectors = re.search(r"connectors: (https://\S+)", text)
            return (api.group(1), connectors.group(1)) if api and connectors else None

        self.api_url, self.connector_url = self._err.wait_for(ports, 60, self.alive)
        return self

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, then wait (SIGKILL after 20 s); the exit code."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Tenant:
    """A tenant of a running service, with an admin token."""

    service: ServiceProcess
    tenant_id: str
    token: str

    def attach_code(self) -> str:
        """A new single-use attach code."""
        args = ["cloud", "attach-code", "create", "--tenant", self.tenant_id]
        return cli(*args, *self.service.store_args).stdout.strip()


def create_tenant(service: ServiceProcess, name: str) -> Tenant:
    """A tenant with one admin and a token, through the `cobridge cloud` commands."""
    store = service.store_args
    tenant_id = cli("cloud", "tenant", "create", name, *store).stdout.strip()
    cli("cloud", "admin", "create", "--tenant", tenant_id, f"{name}-admin", *store)
    token = cli(
        "cloud", "token", "create", "--tenant", tenant_id, "--admin", f"{name}-admin", *store
    ).stdout.strip()
    return Tenant(service, tenant_id, token)
