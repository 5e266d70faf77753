"""TLS contexts for the connector listener (mutual TLS) and for the connector's client.

The server trusts only the service root for client certificates, with
verification optional: a request without a certificate still reaches the app
(enrollment and health checks need that) and the app decides, from
`peer_certificate`, what the caller may do. A certificate that is presented
but does not chain to the root, is expired, or lacks clientAuth fails the
handshake.

Python's `ssl` loads certificate chains and keys only from files, so PEM held
in memory is written to a private directory (mode 0700, files 0600, on a
memory-backed filesystem where there is one) for the duration of the load and
removed right after.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
from pathlib import Path

from cryptography import x509

__all__ = ["client_context", "peer_certificate", "server_context"]

# Prefer RAM-backed storage so the unencrypted key never reaches a disk. Files go
# into a fresh mkdtemp directory (mode 0700, unpredictable name) beneath it.
_MEMORY_TMP = Path("/dev/shm")  # noqa: S108


def server_context(
    cert_pem: bytes, key_pem: bytes, *, client_ca_pem: bytes | None
) -> ssl.SSLContext:
    """A server context (TLS 1.2+) presenting `cert_pem` (leaf first, chain after) and its key.

    With `client_ca_pem` (the service root), clients may present a certificate,
    which must chain to that CA alone; without it, no client certificate is asked for.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(context)
    _load_chain(context, cert_pem, key_pem)
    if client_ca_pem is not None:
        context.load_verify_locations(cadata=_ascii(client_ca_pem, "client CA"))
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def client_context(
    ca_pem: bytes, cert_chain_pem: bytes | None = None, key_pem: bytes | None = None
) -> ssl.SSLContext:
    """A client context (TLS 1.2+) that trusts only `ca_pem` for the server and checks its name.

    `cert_chain_pem` is the connector's leaf followed by its tenant CA: the
    server trusts only the root, so it needs the intermediate from the client.
    """
    if (cert_chain_pem is None) != (key_pem is None):
        raise ValueError("a client certificate needs both cert_chain_pem and key_pem")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED
    _harden(context)
    context.load_verify_locations(cadata=_ascii(ca_pem, "server CA"))
    if cert_chain_pem is not None and key_pem is not None:
        _load_chain(context, cert_chain_pem, key_pem)
    return context


def peer_certificate(transport: asyncio.BaseTransport | None) -> x509.Certificate | None:
    """The peer's leaf certificate on a TLS transport, or None (no TLS, or no certificate sent).

    On a context from `server_context`, a certificate returned here passed
    chain verification during the handshake; checking which tenant CA issued
    it, and whether it is revoked, is the caller's job.
    """
    if transport is None:
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der) if der else None


def _harden(context: ssl.SSLContext) -> None:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION


def _ascii(pem: bytes, what: str) -> str:
    try:
        return pem.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"the {what} is not PEM text") from None


def _load_chain(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    base = _MEMORY_TMP if _MEMORY_TMP.is_dir() and os.access(_MEMORY_TMP, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="cobridge-tls-", dir=base) as private:
        cert_file = _write_private(Path(private) / "chain.pem", cert_pem)
        key_file = _write_private(Path(private) / "key.pem", key_pem)
        context.load_cert_chain(cert_file, key_file)


def _write_private(path: Path, data: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path
