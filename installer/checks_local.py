"""Checks of this host: Python, free disk, permissions, the metrics port, the enrollment."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from bridge.runtime.enrollment import KEY_FILE, load_identity
from installer.checks import CheckInput, CheckResult, result
from installer.layout import Layout, mode_of

MIN_PYTHON = (3, 11)
GIB = 1024**3
DISK_PASS = 1 * GIB
DISK_FAIL = GIB // 4


def check_python(_target: CheckInput) -> list[CheckResult]:
    """The Python running cobridge is recent enough."""
    found = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info >= MIN_PYTHON:
        return result("python", "PASS", f"Python {found} at {sys.executable}")
    need = ".".join(map(str, MIN_PYTHON))
    return result("python", "FAIL", f"Python {found}", f"install Python {need} or newer")


def _existing(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def check_disk(target: CheckInput) -> list[CheckResult]:
    """Free space where the data directory lives (state store, outbox, spill files)."""
    where = _existing(target.layout.data_dir)
    free = shutil.disk_usage(where).free
    detail = f"{free / GIB:.1f} GiB free on the filesystem of {where}"
    fix = f"free at least {DISK_PASS // GIB} GiB there, or install under another --prefix"
    if free >= DISK_PASS:
        return result("free disk", "PASS", detail)
    return result("free disk", "WARN" if free >= DISK_FAIL else "FAIL", detail, fix)


def _private_paths(layout: Layout) -> list[tuple[Path, int]]:
    files = [layout.config, layout.master_key, layout.secrets, layout.data_dir / KEY_FILE]
    dirs = [layout.config_dir, layout.data_dir]
    return [(d, 0o700) for d in dirs] + [(f, 0o600) for f in files]


def check_permissions(target: CheckInput) -> list[CheckResult]:
    """The configuration and data directories: private when they exist, creatable when not."""
    layout = target.layout
    loose = [(p, m) for p, m in _private_paths(layout) if p.exists() and mode_of(p) & 0o077]
    if loose:
        detail = "; ".join(f"{p} is mode {mode_of(p):04o}" for p, _ in loose)
        fix = "; ".join(f"chmod {m:o} {p}" for p, m in loose)
        return result("permissions", "FAIL", detail + " (others may read secrets)", fix)
    for directory in (layout.config_dir, layout.data_dir):
        parent = _existing(directory)
        if not os.access(parent, os.W_OK):
            return result(
                "permissions",
                "FAIL",
                f"cannot create {directory}: {parent} is not writable by this user",
                "run the install as root, or pass --prefix DIR that you can write",
            )
    state = "private (0700, files 0600)" if layout.config_dir.exists() else "to be created 0700"
    return result("permissions", "PASS", f"{layout.config_dir} and {layout.data_dir}: {state}")


def _our_connector(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=3) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as exc:  # 503: a connector that is not healthy
        body = json.loads(exc.read() or b"{}")
    except (OSError, ValueError):
        return False
    return isinstance(body, dict) and "status" in body and "problems" in body


def check_metrics_port(target: CheckInput) -> list[CheckResult]:
    """The port of `/healthz` and `/metrics` is free (or already the connector's own)."""
    host, port = target.metrics_host, target.metrics_port
    name = "metrics port"
    if port == 0:
        return result(name, "PASS", f"{host}: any free port (metrics_port = 0)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return result(
                    name, "FAIL", f"cannot listen on {host}:{port} ({exc.strerror})",
                    "set [service] metrics_host to an address of this host (127.0.0.1)",
                )  # fmt: skip
            if target.installed and _our_connector(host, port):
                return result(name, "PASS", f"{host}:{port} is served by the running connector")
            return result(
                name, "FAIL", f"{host}:{port} is in use by another program",
                "set [service] metrics_port to a free port (or 0 for any free port)",
            )  # fmt: skip
    return result(name, "PASS", f"{host}:{port} is free")


def check_enrollment(target: CheckInput) -> list[CheckResult]:
    """An identity in the data directory, or an attach code to get one."""
    name = "enrollment"
    identity = load_identity(target.layout.data_dir)
    if identity is not None:
        now = datetime.now(UTC)
        detail = (
            f"enrolled as connector {identity.connector_id} of hierarchy "
            f"{identity.hierarchy_id}; certificate until {identity.not_after:%Y-%m-%d}"
        )
        if identity.not_after <= now:
            return result(
                name, "FAIL", detail + " (expired)", "enroll again with a new attach code"
            )
        if identity.due_for_renewal(now):
            return result(name, "WARN", detail + " (due for renewal)", "run `cobridge renew`")
        return result(name, "PASS", detail)
    if target.attach_code:
        return result(name, "PASS", "an attach code is given: spent at enrollment, never stored")
    return result(
        name,
        "FAIL",
        "not enrolled, and no attach code is given",
        "create one in the admin center (or `cobridge cloud attach-code create`) and give it "
        "as [cloud] attach_code",
    )
