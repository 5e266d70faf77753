"""A throwaway Samba AD domain controller on loopback, for the directory tests and bench.

`provision` makes a domain in a directory (samba-tool), gives it a TLS
certificate for 127.0.0.1 signed by a CA of its own, and fills it with
computer objects offline. `SambaDC` runs `samba -M single` on that directory
(LDAP only, ports 389/636 on 127.0.0.1: those ports are fixed, so this needs
root and a free port 389) and stops it again.

One test session at a time may run a DC: a lock file in a known temporary
place serialises sessions, and a pid file there lets a later session stop a
DC that a crashed one left running. Without the `samba` binary the tests are
skipped with the reason; in CI (CI=true) that is a failure.

Test modules load it with `pytest_plugins` after importing its names, hence
PYTEST_DONT_REWRITE (it has no asserts to rewrite).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import ldap3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from onprem.directory import DirectoryConfig

REALM = "COBRIDGE.TEST"
NETBIOS_DOMAIN = "COBRIDGE"
DOMAIN_DN = "DC=cobridge,DC=test"
ADMIN_DN = f"CN=Administrator,CN=Users,{DOMAIN_DN}"
ADMIN_PASSWORD = "Adm1n-Pa55word!"  # a throwaway test domain's, never a real one
SERVICE_DN = f"CN=svc-cobridge,CN=Users,{DOMAIN_DN}"  # may DirSync and read tombstones
PLAIN_DN = f"CN=svc-plain,CN=Users,{DOMAIN_DN}"  # an ordinary domain user
SERVICE_PASSWORD = "Svc-Pa55word!"
FLEET_DN = f"OU=Fleet,{DOMAIN_DN}"
WORKSTATIONS_DN = f"OU=Workstations,{FLEET_DN}"
SERVERS_DN = f"OU=Servers,{FLEET_DN}"
LAB_DN = f"OU=Lab,{DOMAIN_DN}"  # outside the base DNs the tests configure
EMPTY_DN = f"OU=Empty,{DOMAIN_DN}"
HOST = "127.0.0.1"
LDAP_PORT, LDAPS_PORT = 389, 636

STATE_DIR = Path(tempfile.gettempdir()) / "cobridge-samba-dc"
LOCK_WAIT_SECONDS = 240


class SambaMissing(RuntimeError):
    """Samba cannot run a DC here (not installed, or not root)."""


def samba_tools() -> tuple[str, str, str]:
    """(samba, samba-tool, the Python that has Samba's bindings), or `SambaMissing`."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    samba, tool = shutil.which("samba", path=path), shutil.which("samba-tool", path=path)
    if samba is None or tool is None:
        raise SambaMissing("Samba is not installed (apt-get install samba)")
    if os.geteuid() != 0:
        raise SambaMissing("a Samba DC listens on the fixed ports 389/636, which needs root")
    shebang = Path(tool).read_text(errors="replace").splitlines()[0]
    return samba, tool, shebang.removeprefix("#!").split()[0]


def require_samba() -> None:
    """Skip the test without Samba, with the reason; fail instead in CI."""
    try:
        samba_tools()
    except SambaMissing as missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{missing}: the directory tests must run in CI")
        pytest.skip(f"directory tests skipped: {missing}")


def provision(directory: Path, *, computers: int, lab: int = 20, progress: bool = False) -> float:
    """Provision a domain into `directory` and fill it; returns the seconds it took."""
    _, tool, python = samba_tools()
    started = time.perf_counter()
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    empty = directory / "empty.conf"
    empty.touch()
    options = f"--realm={REALM} --domain={NETBIOS_DOMAIN} --server-role=dc --dns-backend=NONE"
    options += f" --use-rfc2307 --host-name=dc1 --host-ip={HOST} --adminpass={ADMIN_PASSWORD}"
    _run(
        [
            tool,
            "domain",
            "provision",
            f"--targetdir={directory}",
            "-s",
            str(empty),
            *options.split(),
        ]
    )
    write_tls_files(directory / "tls")
    _write_config(directory, allow_plain=False)
    conf = directory / "etc" / "smb.conf"
    fill = [python, "-c", FILL_SCRIPT, str(conf), str(computers), str(lab), SERVICE_PASSWORD]
    _run(fill, timeout=None if progress else 600, show=progress)
    return time.perf_counter() - started


def _run(command: list[str], *, timeout: float | None = 600, show: bool = False) -> None:
    done = subprocess.run(
        command,
        stdout=None if show else subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(((done.stdout or "") + done.stderr).splitlines()[-15:])
        raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}):\n{tail}")


def _write_config(directory: Path, *, allow_plain: bool) -> None:
    """The generated smb.conf, reduced to an LDAP-only DC on loopback with our certificate."""
    conf = directory / "etc" / "smb.conf"
    keep = [
        line
        for line in conf.read_text().splitlines()
        if line.strip().split("=")[0].strip()
        not in {"server services", "interfaces", "bind interfaces only", "pid directory"}
        and not line.strip().startswith(("tls ", "ldap server require", "ldb:"))
    ]
    at = keep.index("[global]") + 1
    tls = directory / "tls"
    extra = [
        "\tserver services = ldap",
        f"\tinterfaces = {HOST}",
        "\tbind interfaces only = yes",
        f"\tpid directory = {directory / 'run'}",
        "\ttls enabled = yes",
        f"\ttls keyfile = {tls / 'key.pem'}",
        f"\ttls certfile = {tls / 'cert.pem'}",
        f"\ttls cafile = {tls / 'ca.pem'}",
        # Tests only: skip fsync on every write.
        "\tldb:nosync = true",
    ]
    if allow_plain:
        extra.append("\tldap server require strong auth = no")
    conf.write_text("\n".join(keep[:at] + extra + keep[at:]) + "\n")
    (directory / "run").mkdir(exist_ok=True)


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


class SambaDC:
    """A running (or stopped) DC over one provisioned directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca_file = directory / "tls" / "ca.pem"
        self.allow_plain: bool | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def ensure(self, *, allow_plain: bool) -> SambaDC:
        """Run the DC, restarted if needed so that plain simple binds are allowed or refused."""
        if self._process is not None and self._process.poll() is None:
            if self.allow_plain == allow_plain:
                return self
            self.stop()
        _write_config(self.directory, allow_plain=allow_plain)
        self._start()
        self.allow_plain = allow_plain
        return self

    def _start(self) -> None:
        samba = samba_tools()[0]
        stop_stale()
        if _listening(LDAP_PORT) or _listening(LDAPS_PORT):
            raise RuntimeError("port 389 or 636 on 127.0.0.1 is taken by a server of someone else")
        log = (self.directory / "samba.log").open("ab")
        conf = self.directory / "etc" / "smb.conf"
        self._process = subprocess.Popen(
            [samba, "-M", "single", "-i", "-s", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        (STATE_DIR / "samba.pid").write_text(f"{self._process.pid}\n{conf}\n")
        deadline = time.monotonic() + 30
        while not (_listening(LDAP_PORT) and _listening(LDAPS_PORT)):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self.directory / "samba.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"samba did not start listening on 389/636:\n{tail}")
            time.sleep(0.1)

    def config(self, **overrides: Any) -> DirectoryConfig:
        """The adapter's configuration for this DC: LDAPS as the service account, both OUs."""
        values: dict[str, Any] = {
            "hosts": [HOST],
            "ca_file": self.ca_file,
            "bind_dn": SERVICE_DN,
            "password": SERVICE_PASSWORD,
            "base_dns": [WORKSTATIONS_DN, SERVERS_DN],
        }
        return DirectoryConfig(**(values | overrides))

    def admin(self) -> ldap3.Connection:
        """An LDAPS connection as Administrator, to change the domain under test."""
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(self.ca_file))
        server = ldap3.Server(HOST, port=LDAPS_PORT, use_ssl=True, tls=tls)
        return ldap3.Connection(
            server, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True, raise_exceptions=True
        )

    def snapshot(self, to: Path) -> None:
        """Copy the DC's database files to `to` while it is stopped (as a VM snapshot would)."""
        plain = bool(self.allow_plain)
        self.stop()
        shutil.copytree(self.directory / "private", to, symlinks=True, ignore=_sockets)
        self.ensure(allow_plain=plain)

    def restore(self, snapshot: Path) -> None:
        """Put the files of `snapshot` back and start the DC (its invocationId unchanged)."""
        plain = bool(self.allow_plain)
        self.stop()
        shutil.rmtree(self.directory / "private")
        shutil.copytree(snapshot, self.directory / "private", symlinks=True)
        self.ensure(allow_plain=plain)

    def stop(self) -> None:
        """Stop the DC if it runs (it may be started again)."""
        process, self._process = self._process, None
        if process is not None:
            _terminate(process.pid, process)
        with contextlib.suppress(FileNotFoundError):
            (STATE_DIR / "samba.pid").unlink()


def _sockets(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if stat.S_ISSOCK(os.lstat(Path(folder) / n).st_mode)]


def _terminate(pid: int, process: subprocess.Popen[bytes] | None = None) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return
        if process is None and not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if process is not None:
        process.wait(5)


def stop_stale() -> None:
    """Stop a DC that an earlier (crashed) session started, found through its pid file."""
    pidfile = STATE_DIR / "samba.pid"
    try:
        pid_text, conf = pidfile.read_text().splitlines()[:2]
    except (FileNotFoundError, ValueError):
        return
    cmdline = Path(f"/proc/{pid_text}/cmdline")
    # Only a samba started with that config: never a reused pid of something else.
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        if "samba" in cmdline.read_bytes().decode(errors="replace") and conf in cmdline.read_text(
            errors="replace"
        ):
            _terminate(int(pid_text))
    pidfile.unlink(missing_ok=True)


@contextlib.contextmanager
def exclusive_dc() -> Iterator[None]:
    """Hold the machine-wide DC lock (waiting for another session to finish with it)."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with (STATE_DIR / "lock").open("w") as lock:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"another session held {STATE_DIR / 'lock'} for {LOCK_WAIT_SECONDS} s"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def running_dc(directory: Path, *, allow_plain: bool = False) -> Iterator[SambaDC]:
    """A DC over an already provisioned `directory`, stopped on exit."""
    with exclusive_dc():
        dc = SambaDC(directory)
        try:
            yield dc.ensure(allow_plain=allow_plain)
        finally:
            dc.stop()


def write_tls_files(directory: Path, *, name: str = "cobridge test DC") -> Path:
    """A CA and a server certificate for 127.0.0.1 and localhost; returns the CA file."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)

    def cert(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.DNSName("localhost"), x509.DNSName("dc1.cobridge.test")]
            names.append(x509.IPAddress(IPv4Address(HOST)))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = cert(f"{name} CA", ca_key, f"{name} CA", ca_key, True)
    server = cert("dc1.cobridge.test", key, f"{name} CA", ca_key, False)
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (directory / "cert.pem").write_bytes(server.public_bytes(pem))
    key_file = directory / "key.pem"
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)  # samba refuses a key that others can read
    return directory / "ca.pem"


# Run by the Python that has Samba's bindings, on the stopped DC's database:
# one transaction in ldb's batch mode adds some 500 computers a second, where
# LDAP adds manage about 150 and slow down as the domain grows.
FILL_SCRIPT = """
import sys
import time
started = time.time()
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
from samba.sd_utils import SDUtils
conf, count, lab, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lp = LoadParm(); lp.load(conf)
db = SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp,
           options=["batch_mode:1"])
base = db.domain_dn()
for user in ("svc-cobridge", "svc-plain"):
    db.newuser(user, password, useusernameascn=True)
sid = db.search(base, expression="(sAMAccountName=svc-cobridge)", attrs=["objectSid"])[0]
sid = db.schema_format_value("objectSid", sid["objectSid"][0]).decode()
# svc-cobridge: Replicating Directory Changes (for DirSync), and reads of tombstones.
SDUtils(db).dacl_add_ace(base, f"(OA;;CR;1131f6aa-9c07-11d1-f79f-00c04fc2dcd2;;{sid})")
SDUtils(db).dacl_add_ace(f"CN=Deleted Objects,{base}", f"(A;CI;LCRPRC;;;{sid})")
db.transaction_start()
for ou in ("OU=Fleet", "OU=Workstations,OU=Fleet", "OU=Servers,OU=Fleet", "OU=Lab", "OU=Empty"):
    db.add({"dn": f"{ou},{base}", "objectClass": "organizationalUnit"})
def computer(name, ou, i, server):
    if i and i % 5000 == 0:  # bounded transactions; progress for the impatient
        db.transaction_commit()
        print(f"  {i:,} computers after {time.time() - started:.0f} s", flush=True)
        db.transaction_start()
    entry = {
        "dn": f"CN={name},{ou},{base}", "objectClass": "computer",
        "sAMAccountName": name + "$", "dNSHostName": name.lower() + ".cobridge.test",
        "userAccountControl": str(4098 if i % 25 == 7 else 4096),
        "operatingSystem": "Windows Server 2022 Standard" if server
        else ("Windows 11 Enterprise" if i % 3 else "Windows 10 Enterprise"),
        "operatingSystemVersion": "10.0 (20348)" if server
        else ("10.0 (22631)" if i % 3 else "10.0 (19045)"),
    }
    if i % 4:
        # FILETIME: 100 ns ticks since 1601; about 2026, a few days apart.
        entry["lastLogonTimestamp"] = str(134_100_000_000_000_000 + i * 3_000_000_000)
    db.add(entry)
for i in range(count):
    server = i % 10 == 9
    computer(f"{'SRV' if server else 'WS'}{i:06d}", "OU=Servers,OU=Fleet" if server
             else "OU=Workstations,OU=Fleet", i, server)
for i in range(lab):
    computer(f"LAB{i:04d}", "OU=Lab", i, False)
db.transaction_commit()
"""


COMPUTERS = 2000  # about 4 s of offline fill; provisioning itself takes about as long


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    """One provisioned, running DC for the whole session (plain binds refused at first)."""
    require_samba()
    directory = tmp_path_factory.mktemp("samba") / "dc"
    provision(directory, computers=COMPUTERS)
    with running_dc(directory) as dc:
        yield dc
