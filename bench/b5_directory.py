"""B5, directory part: a paged read of computer objects into records, beside `ldapsearch`.

A throwaway Samba AD DC is provisioned once into the data directory (the
slow part: about 500 computers a second) and reused by later runs. The
product path (`DirectoryReader.read_full`: LDAPS verified against the DC's
CA, pages of 1000, the DirSync starting cookie, records and rejects) is
timed beside `ldapsearch -E pr=1000/noprompt` of the same base DNs,
attributes and filter over the same LDAPS, and beside ldap3's own paged
search without our parsing, all in the same run against the same DC.
Target (DESIGN.md section 14): reader <= 2x the raw search. Needs root (the
DC listens on ports 389/636), Samba and ldap-utils.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from bench.measure import measure, report
from onprem.directory import DirectoryConfig, DirectoryReader
from onprem.directory.connection import DirectoryConnection
from onprem.directory.records import ATTRIBUTES
from tests.support.samba_dc import (
    HOST,
    SERVERS_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    WORKSTATIONS_DN,
    SambaMissing,
    provision,
    running_dc,
    samba_tools,
)

QUICK, LARGE = 20_000, 100_000


def config(directory: str) -> DirectoryConfig:
    return DirectoryConfig(
        hosts=[HOST],
        ca_file=Path(directory) / "tls" / "ca.pem",
        bind_dn=SERVICE_DN,
        password=SERVICE_PASSWORD,
        base_dns=[WORKSTATIONS_DN, SERVERS_DN],
    )


def read_records(directory: str) -> int:
    """The product path: every computer becomes a validated record or a reject."""
    return sum(1 for _ in DirectoryReader(config(directory)).read_full())


def ldap3_paged(directory: str) -> int:
    """ldap3's paged search of the same objects, entries counted, nothing parsed."""
    settings = config(directory)
    with DirectoryConnection.open(settings) as conn:
        return sum(
            1 for base in settings.base_dns for _ in conn.paged(base, settings.filter, ATTRIBUTES)
        )


def ldapsearch(directory: str) -> int:
    """The baseline: OpenLDAP's ldapsearch, paged, over the same LDAPS, output counted."""
    settings = config(directory)
    environment = os.environ | {
        "LDAPTLS_CACERT": str(settings.ca_file),
        "LDAPTLS_REQCERT": "demand",
    }
    entries = 0
    for base in settings.base_dns:
        command = ["ldapsearch", "-LLL", "-x", "-H", f"ldaps://{HOST}", "-D", SERVICE_DN]
        command += ["-w", SERVICE_PASSWORD, "-b", base, "-E", "pr=1000/noprompt"]
        command += [settings.filter, *ATTRIBUTES]
        with subprocess.Popen(command, stdout=subprocess.PIPE, env=environment) as search:
            assert search.stdout is not None
            tail = b"\n"  # the first "dn: " starts the output
            while chunk := search.stdout.read(1 << 20):
                entries += (tail + chunk).count(b"\ndn: ")
                tail = (tail + chunk)[-4:]  # too short to hold a whole match twice
        if search.returncode != 0:
            raise RuntimeError(f"ldapsearch failed with exit code {search.returncode}")
    return entries


def _provisioned(data_dir: str, computers: int) -> tuple[Path, float]:
    directory = Path(data_dir).resolve() / f"samba-dc-{computers}"
    marker = directory / "provisioned-seconds"
    if not marker.exists():
        print(f"  provisioning a Samba AD domain with {computers:,} computers into {directory} ...")
        seconds = provision(directory, computers=computers, progress=True)
        marker.write_text(f"{seconds:.1f}\n")
        print(f"  provisioned in {seconds:.0f} s")
    return directory, float(marker.read_text())


def run(*, large: bool, data_dir: str) -> None:
    """Run B5 (directory part) at 20k computers, or 100k with --large."""
    computers = LARGE if large else QUICK
    try:
        samba_tools()
        if shutil.which("ldapsearch") is None:
            raise SambaMissing("ldapsearch is not installed (apt-get install ldap-utils)")
    except SambaMissing as missing:
        print(f"\nB5 directory read: skipped ({missing})")
        return
    directory, provisioned = _provisioned(data_dir, computers)
    started = time.perf_counter()
    with running_dc(directory):
        print(f"  DC started in {time.perf_counter() - started:.1f} s")
        reader = measure("reader: records + rejects", read_records, str(directory), repeat=2)
        raw = measure("ldap3 paged search, unparsed", ldap3_paged, str(directory), repeat=2)
        baseline = measure("ldapsearch -E pr=1000", ldapsearch, str(directory), repeat=2)
    if not reader.items == raw.items == baseline.items:
        raise RuntimeError(f"counts differ: {reader.items}, {raw.items}, {baseline.items}")
    report(
        f"B5 directory read: Samba AD DC over LDAPS, {reader.items:,} computers "
        f"(provisioned once in {provisioned:.0f} s)",
        [reader, raw, baseline],
        [
            f"reader / ldapsearch = {reader.seconds / baseline.seconds:.2f}x (target <= 2x)",
            f"reader / ldap3 unparsed = {reader.seconds / raw.seconds:.2f}x",
        ],
    )
