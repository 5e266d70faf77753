"""The connector as a real process: its settings file, its logs, kill -9, status.

`ConnectorProcess` runs `cobridge connector run` and keeps its JSON log lines,
so a test can wait for a line ("connector started", a cycle report) and then
stop it with SIGTERM or SIGKILL. `write_connector_config` writes the TOML file
it reads; `status_json` and `release_deletes` are the operator's commands.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.support.system_processes import COBRIDGE, OutputLines, clean_env, cli

Log = dict[str, Any]


def write_connector_config(
    path: Path,
    *,
    data_dir: Path,
    site_db: str,
    connector_url: str,
    api_url: str,
    ca_file: Path,
    attach_code: str | None,
    sync: Mapping[str, float | int] | None = None,
    state_db: str | None = None,
) -> Path:
    """The connector's TOML settings (1 s cycles and small batches unless `sync` says otherwise)."""
    values = {"interval_seconds": 1, "heartbeat_seconds": 5, "batch_size": 100, "in_flight": 4}
    values.update(sync or {})
    code = f'attach_code = "{attach_code}"' if attach_code else ""
    state = f'[state]\ndb = "{state_db}"\n' if state_db else ""
    sync_lines = "\n".join(f"{key} = {value}" for key, value in values.items())
    path.write_text(
        f'data_dir = "{data_dir}"\n\n[site]\ndb = "{site_db}"\n\n'
        f'[cloud]\nconnector_url = "{connector_url}"\napi_url = "{api_url}"\n'
        f'ca_file = "{ca_file}"\n{code}\n\n[sync]\n{sync_lines}\n\n{state}'
        '[observability]\nmetrics_port = 0\nlog_level = "info"\n'
    )
    path.chmod(0o600)
    return path


def is_cycle(line: Log) -> bool:
    """Whether a log line is a cycle report ("cycle full: ok", "cycle delta: failed", ...)."""
    return str(line.get("message", "")).startswith("cycle ") and "run_id" in line


class ConnectorProcess:
    """`cobridge connector run --config FILE` as a child process, with its parsed log lines."""

    def __init__(self, config: Path, *, once: bool = False, env: Mapping[str, str] | None = None):
        args = [
            COBRIDGE,
            "connector",
            "run",
            "--config",
            str(config),
            *(["--once"] if once else []),
        ]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(**(env or {})),
        )
        self._err = OutputLines(self.proc.stderr)

    def logs(self) -> list[Log]:
        """Every JSON log line so far (other lines as {"message": text})."""
        parsed = []
        for line in list(self._err.lines):
            try:
                value = json.loads(line)
            except ValueError:
                value = {"message": line}
            parsed.append(value if isinstance(value, dict) else {"message": line})
        return parsed

    def cycles(self) -> list[Log]:
        """The cycle reports logged so far."""
        return [line for line in self.logs() if is_cycle(line)]

    def wait_for(self, found: Callable[[list[Log]], Any], timeout: float = 60) -> Any:
        """The first truthy `found(logs)`; raise on timeout or when the process ends first."""
        return self._err.wait_for(lambda _lines: found(self.logs()), timeout, self.alive)

    def wait_started(self, timeout: float = 60) -> None:
        """Until the connector has enrolled, registered and logged "connector started"."""
        self.wait_for(
            lambda logs: any(line.get("message") == "connector started" for line in logs), timeout
        )

    def wait_cycle(self, after: int = 0, timeout: float = 60) -> Log:
        """The first cycle report after the first `after` ones."""
        return self.wait_for(lambda logs: [c for c in logs if is_cycle(c)][after:][:1], timeout)[0]

    def wait_ok_cycle(self, after: int = 0, timeout: float = 120) -> Log:
        """The first successful cycle among those reported after the first `after` ones."""

        def found(logs: list[Log]) -> list[Log]:
            cycles = [c for c in logs if is_cycle(c)][after:]
            return [c for c in cycles if str(c["message"]).endswith(": ok")][:1]

        return self.wait_for(found, timeout)[0]

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or closed."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and the exit code (the connector lets batches in flight finish first)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 120) -> int:
        """Wait for the process to exit; its exit code."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"the connector did not exit in {timeout:.0f} s:\n{self.tail()}"
            ) from None

    def tail(self, count: int = 25) -> str:
        """The last log lines, for failure messages."""
        return self._err.tail(count)


def run_once(config: Path, *, timeout: float = 120) -> ConnectorProcess:
    """`cobridge connector run --once` to its end; the finished process."""
    process = ConnectorProcess(config, once=True)
    process.wait(timeout)
    return process


def status_json(config: Path) -> dict[str, Any]:
    """`cobridge status --json` (its exit code is 1 when unhealthy, which is an answer too)."""
    done = cli("status", "--config", str(config), "--json", check=False)
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise AssertionError(f"cobridge status failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)


def release_deletes(config: Path, by: str) -> str:
    """`cobridge connector release-deletes --by BY`; what it printed."""
    return cli("connector", "release-deletes", "--config", str(config), "--by", by).stdout
