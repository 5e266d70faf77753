"""`cobridge audit ...`: show, verify and export the connector's hash-chained audit log.

`verify` exits 0 when the chain is intact, 1 when it names a problem (an
edited, removed or reordered entry, a bad or unknown signature, a missing
expected head) and 2 when it cannot check (no state, an unreadable file).
The chain alone cannot show that its newest entries were removed: note the
head `verify` prints, and pass it later as `--expect-head`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
from rich.table import Table

from bridge.audit import VerifyReport, export_lines, read_chain, verify_export, verify_state
from bridge.audit.chain import from_row
from bridge.audit.entry import canonical_json
from bridge.cli.connector_commands import _open_state, config_option
from bridge.cli.output import console
from bridge.settings import ConnectorSettings

EXIT_TAMPERED = 1
_HASH = re.compile(r"^[0-9a-fA-F]{64}$")


def _head_hash(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not _HASH.match(value):
        raise click.BadParameter("an entry hash is 64 hexadecimal characters")
    return value.lower() if value else None


@click.group()
def audit() -> None:
    """The audit log: who changed what and when, hash-chained and signed."""


@audit.command()
@config_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print the entries' wire form as JSON.")
def show(config_path: Path, limit: int, as_json: bool) -> None:
    """The newest entries, newest first, and the head to note for later checks."""
    settings = ConnectorSettings.load(config_path)
    with _open_state(settings) as state:
        entries = [from_row(r) for r in state.audit.newest(limit)]
    if as_json:
        click.echo(json.dumps([e.to_wire() for e in entries], indent=2, ensure_ascii=False))
        return
    out = console()
    table = Table("#", "at (UTC)", "actor", "action", "target", "details", title="Audit log")
    for entry in entries:
        details = canonical_json(entry.details)
        if entry.plan_hash:
            details = f"plan {entry.plan_hash[:12]} {details}"
        table.add_row(
            str(entry.seq),
            f"{entry.at:%Y-%m-%d %H:%M:%S}",
            entry.actor,
            entry.action,
            entry.target,
            details if len(details) <= 80 else details[:79] + "…",
        )
    out.print(table)
    if entries:
        head = entries[0]
        out.print(f"head: entry {head.seq} {head.entry_hash}")
        out.print("check it later with `cobridge audit verify --expect-head <hash>`")
    else:
        out.print("the audit log is empty")


@audit.command()
@config_option
@click.option(
    "--file",
    "export_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Verify this export (from `cobridge audit export`) instead of the state store.",
)
@click.option(
    "--expect-head",
    callback=_head_hash,
    help="A head hash noted earlier; if it is gone, entries were removed from the end.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(
    config_path: Path, export_file: Path | None, expect_head: str | None, as_json: bool
) -> None:
    """Walk the chain and name its first problem; exit 0 intact, 1 tampered, 2 error."""
    settings = ConnectorSettings.load(config_path)
    if export_file is not None:
        report = verify_export(export_file, settings.data_dir, expect_head=expect_head)
    else:
        with _open_state(settings) as state:
            report = verify_state(state, settings.data_dir, expect_head=expect_head)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_report(report)
    if not report.ok:
        raise SystemExit(EXIT_TAMPERED)


def _print_report(report: VerifyReport) -> None:
    click.echo(report.describe())
    if report.anchored_seq is not None:
        newer = (report.head_seq or 0) - report.anchored_seq
        click.echo(f"the expected head is entry {report.anchored_seq}; {newer} entries since")
    for signer in report.signers:
        why = signer.trusted_because or "not trusted"
        click.echo(
            f"  signer {signer.signer[:16]} ({signer.kind or 'not on record'}): "
            f"{signer.entries} entries, {why}"
        )


@audit.command()
@config_option
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write here instead of standard output.",
)
def export(config_path: Path, output: Path | None) -> None:
    """Write the whole log as JSON lines (header, signers, entries), to check elsewhere."""
    settings = ConnectorSettings.load(config_path)
    with _open_state(settings) as state:
        entries, signers = read_chain(state)
    lines = export_lines(entries, signers)
    if output is None:
        for line in lines:
            click.echo(line)
        return
    with output.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
    click.echo(f"exported {len(entries)} entries to {output}", err=True)
