"""The files an install writes, as text: the connector's settings and the systemd unit.

The settings name every secret as a `secret:NAME` reference into the
encrypted store; nothing rendered here ever holds a secret's value.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from installer.answers import InstallAnswers
from installer.layout import SERVICE_USER, Layout
from onprem.site_database import parse_site_url


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a TOML basic string


def connector_toml(answers: InstallAnswers, layout: Layout) -> str:
    """`connector.toml` for these answers, secrets as references."""
    lines = [
        "# Written by `cobridge install`. Secrets are `secret:NAME` references into",
        "# secrets.enc beside this file, opened with master.key (see `cobridge secrets`).",
        f"data_dir = {_toml(layout.data_dir)}",
        "",
        "[site]",
        'db = "secret:site_db"',
    ]
    if answers.site.hierarchy_id:
        lines.append(f"hierarchy_id = {_toml(answers.site.hierarchy_id)}")
    cloud = answers.cloud
    lines += ["", "[cloud]", f"connector_url = {_toml(cloud.connector_url)}"]
    if cloud.api_url:
        lines.append(f"api_url = {_toml(cloud.api_url)}")
    lines += [f"ca_file = {_toml(layout.ca_file)}", ""]
    service = answers.service
    lines += [
        "[observability]",
        f"metrics_host = {_toml(service.metrics_host)}",
        f"metrics_port = {service.metrics_port}",
    ]
    d = answers.directory
    if d.enabled:
        lines += ["", "[directory]", "enabled = true", f"hosts = {_toml(d.hosts)}"]
        if d.port is not None:
            lines.append(f"port = {d.port}")
        lines.append(f"tls = {_toml(d.tls)}")
        if d.ca_file is not None:
            lines.append(f"ca_file = {_toml(d.ca_file.resolve())}")
        lines += [
            f"bind_dn = {_toml(d.bind_dn or '')}",
            'password = "secret:directory_password"',
            f"base_dns = {_toml(d.base_dns)}",
        ]
    a = answers.actions
    if a.enabled:
        lines += ["", "[actions]", "enabled = true", f"auth = {_toml(a.auth)}"]
        lines += [f"username = {_toml(a.winrm_user or '')}", 'password = "secret:winrm_password"']
        if a.port is not None:
            lines.append(f"port = {a.port}")
        if a.ca_file is not None:
            lines.append(f"ca_file = {_toml(a.ca_file.resolve())}")
        if a.test_host:
            lines.append(f"test_host = {_toml(a.test_host)}")
    return "\n".join(lines) + "\n"


def cobridge_command() -> list[str]:
    """How to start `cobridge` from this installation (its console script, or the module)."""
    script = Path(sys.executable).with_name("cobridge")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "installer"]


def run_command(layout: Layout) -> list[str]:
    """The command that runs the connector of this install."""
    return [*cobridge_command(), "connector", "run", "--config", str(layout.config)]


def _writable_site_dir(answers: InstallAnswers) -> Path | None:
    # An embedded (SQLite) site keeps its WAL beside the file: the service must write there.
    url = parse_site_url(answers.site_url())
    if url.get_backend_name() == "sqlite" and url.database:
        return Path(url.database).resolve().parent
    return None


def systemd_unit(answers: InstallAnswers, layout: Layout) -> str:
    """A hardened unit running the connector as the dedicated user."""
    command = run_command(layout)
    home = any(command[0].startswith(p) for p in ("/home/", "/root/", "/run/user/"))
    writable = [str(layout.data_dir)]
    site_dir = _writable_site_dir(answers)
    if site_dir is not None:
        writable.append(str(site_dir))
    return f"""\
# Written by `cobridge install`. The connector only opens outbound connections
# and writes only its data directory; everything else is read-only or hidden.
[Unit]
Description=cobridge connector (configuration-manager site to cloud tenant)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User={SERVICE_USER}
Group={SERVICE_USER}
ExecStart={shlex.join(command)}
Restart=on-failure
RestartSec=10
# Batches in flight get 30 s after SIGTERM; what is left stays in the outbox.
TimeoutStopSec=45
Environment=PYTHONUNBUFFERED=1
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={" ".join(writable)}
ProtectHome={"read-only" if home else "yes"}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
CapabilityBoundingSet=
AmbientCapabilities=
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
# MemoryDenyWriteExecute stays off: libffi closures (cffi, ctypes) need it.

[Install]
WantedBy=multi-user.target
"""
