"""One HTTP/1.1 request written byte for byte over TLS, for what an HTTP client refuses to send.

aiohttp's client only sends headers that are text; an attacker's client sends
any bytes (a raw non-UTF-8 byte in a credential, for one). The answer is read
until the server closes the connection.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawAnswer:
    """The status, the headers (lower-cased names) and the body of one answer."""

    status: int
    headers: dict[str, str]
    body: bytes


async def raw_request(
    url: str, context: ssl.SSLContext, method: str, headers: list[bytes], body: bytes = b""
) -> RawAnswer:
    """Send `method url` with `headers` (whole `Name: value` lines, any bytes) and `body`."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port, ssl=context)
    try:
        head = [
            f"{method} {parts.path or '/'} HTTP/1.1".encode(),
            f"Host: {parts.netloc}".encode(),
            b"Connection: close",
            f"Content-Length: {len(body)}".encode(),
            *headers,
        ]
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
    status_and_headers, _, content = raw.partition(b"\r\n\r\n")
    lines = status_and_headers.decode("latin-1").split("\r\n")
    fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return RawAnswer(
        int(lines[0].split()[1]),
        {name.strip().lower(): value.strip() for name, value in fields.items()},
        content,
    )
