"""`/healthz` and `/metrics` on a local port, and structured logs without secrets.

Metrics are Prometheus (prometheus-client) in a registry of the runner's own,
so tests and the demo can run several connectors in one process. `/healthz`
answers 200 while the last cycle succeeded and is recent, 503 otherwise, with
the reason in JSON.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# Standard LogRecord attributes: everything else given as `extra` is a field.
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """JSON lines on stderr for the `cobridge` loggers (UTC times)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger("cobridge")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class ConnectorMetrics:
    """The connector's Prometheus metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.cycles = Counter(
            "cobridge_connector_cycles",
            "Sync cycles by kind and outcome",
            ["kind", "outcome"],
            registry=r,
        )
        self.cycle_seconds = Histogram(
            "cobridge_connector_cycle_seconds",
            "Duration of sync cycles",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
            registry=r,
        )
        self.devices = Counter(
            "cobridge_connector_devices",
            "Device changes acknowledged by the tenant",
            ["change"],
            registry=r,
        )
        self.situations = Gauge(
            "cobridge_connector_situation_records",
            "Records per identity situation, last cycle",
            ["situation"],
            registry=r,
        )
        self.quarantined = Gauge(
            "cobridge_connector_quarantined_records", "Records in quarantine", registry=r
        )
        self.held_deletes = Gauge(
            "cobridge_connector_held_deletes", "Deletes held by the guard", registry=r
        )
        self.backlog = Gauge(
            "cobridge_connector_backlog_batches", "Batches awaiting acknowledgement", registry=r
        )
        self.last_success = Gauge(
            "cobridge_connector_last_success_timestamp_seconds",
            "End of the last successful cycle",
            registry=r,
        )
        self.certificate_expiry = Gauge(
            "cobridge_connector_certificate_expiry_timestamp_seconds",
            "The client certificate's notAfter",
            registry=r,
        )
        self.clock_skew = Gauge(
            "cobridge_connector_clock_skew_seconds",
            "The service's clock minus this host's, at the last heartbeat",
            registry=r,
        )
        self.heartbeats = Counter(
            "cobridge_connector_heartbeats", "Heartbeats by outcome", ["outcome"], registry=r
        )


@dataclass
class Health:
    """What `/healthz` reports."""

    healthy: bool
    detail: dict[str, Any]


async def serve_observability(
    host: str, port: int, metrics: ConnectorMetrics, health: Callable[[], Health]
) -> tuple[web.AppRunner, int]:
    """Start the local HTTP listener; (runner to clean up, bound port)."""

    async def healthz(_request: web.Request) -> web.Response:
        found = health()
        return web.json_response(
            {"status": "ok" if found.healthy else "failing", **found.detail},
            status=200 if found.healthy else 503,
            dumps=lambda v: json.dumps(v, default=str),
        )

    async def metrics_page(_request: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, int(bound)
