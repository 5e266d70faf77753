"""The transport under the tenant clients: one session, one request chokepoint.

The connector's (`ConnectorClient`), the admin's (`AdminClient`) and a
device's (`CheckInClient`) clients each extend `ClientCore` with their own
calls. `ClientCore._request` is the only place that talks HTTP. It owns the
aiohttp session (created on first use, so constructing a client opens
nothing), the TLS context, the timeouts, the retries (tenacity, per
`RetryPolicy`) and the translation of every library exception and error
answer into `CloudError`; `_call` sends and parses the JSON of most calls.
"""

from __future__ import annotations

import asyncio
import codecs
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Self, TypeVar

import aiohttp
from multidict import CIMultiDictProxy
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt
from yarl import URL

from bridge.tenant.errors import (
    CloudError,
    CloudProtocolError,
    CloudTlsError,
    CloudUnavailable,
    api_error,
    retry_after_seconds,
)
from bridge.tenant.policy import (
    IDEMPOTENT,
    RETRY_STATUSES,
    CallStats,
    ClientStats,
    RetryPolicy,
    Transient,
    WaitRetryAfterOrBackoff,
)
from bridge.tenant.throttle import ThrottleGovernor
from cloud.contract.tls import client_context

__all__ = ["ClientCore", "Params", "Reply", "Target", "ValueList"]

Target = Literal["api", "connector"]
M = TypeVar("M", bound=BaseModel)
Params = Mapping[str, str] | Sequence[tuple[str, str]]
_STREAM_CHUNK = 64 * 1024


class ValueList(BaseModel, Generic[M]):
    """A list answer: `{"value": [...]}`."""

    value: list[M]


@dataclass(frozen=True)
class Reply:
    """A successful answer: its status, headers and body (or, for a stream, the open response)."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    url: str
    response: aiohttp.ClientResponse | None = None


class ClientCore:
    """Session, TLS, timeouts, retries and error translation for the tenant clients.

    `ca_pem` is the only root trusted for the service's certificate;
    `cert_chain_pem` (leaf, then the tenant CA) and `key_pem` are the
    connector's enrolled identity, presented on mutual TLS. `timeout` bounds a
    whole attempt, `connect_timeout` its connection; `max_attempts` bounds the
    attempts of a call and `max_wait` any one wait between them. Plain-HTTP
    URLs are refused unless `allow_http` (for local test servers only).
    """

    def __init__(
        self,
        api_url: str | None,
        connector_url: str | None,
        *,
        ca_pem: bytes,
        token: str | None = None,
        cert_chain_pem: bytes | None = None,
        key_pem: bytes | None = None,
        timeout: float = 30,
        connect_timeout: float = 10,
        max_attempts: int = 6,
        max_wait: float = 60,
        initial_wait: float = 0.5,
        allow_http: bool = False,
        max_concurrency: int = 64,
        throttle_cooldown: float = 60.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if timeout <= 0 or connect_timeout <= 0 or max_wait < 0 or initial_wait <= 0:
            raise ValueError("timeouts and initial_wait must be positive, max_wait not negative")
        self._urls: dict[Target, str | None] = {
            "api": _base_url(api_url, "api_url", allow_http),
            "connector": _base_url(connector_url, "connector_url", allow_http),
        }
        self._ca_pem = ca_pem
        self._token = token
        self._allow_http = allow_http
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._initial_wait = initial_wait
        uses_tls = any(u and u.startswith("https:") for u in self._urls.values())
        self._ssl = client_context(ca_pem, cert_chain_pem, key_pem) if uses_tls else None
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._max_concurrency = max_concurrency
        self._throttle_cooldown = throttle_cooldown
        self.governor = ThrottleGovernor(max_concurrency, cooldown=throttle_cooldown)
        self.stats = ClientStats()

    def with_certificate(self, cert_chain_pem: bytes, key_pem: bytes) -> Self:
        """A new client with the same settings presenting this certificate (its own TLS and session).

        `cert_chain_pem` is the enrolled certificate followed by its CA chain
        (`certificate_pem + ca_chain_pem` of the enrollment answer).
        """
        return type(self)(
            self._urls["api"],
            self._urls["connector"],
            ca_pem=self._ca_pem,
            token=self._token,
            cert_chain_pem=cert_chain_pem,
            key_pem=key_pem,
            timeout=self._timeout,
            connect_timeout=self._connect_timeout,
            max_attempts=self._max_attempts,
            max_wait=self._max_wait,
            initial_wait=self._initial_wait,
            allow_http=self._allow_http,
            max_concurrency=self._max_concurrency,
            throttle_cooldown=self._throttle_cooldown,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session; the client cannot be used afterwards."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_url={self._urls['api']!r}, connector_url={self._urls['connector']!r})"

    def _session_for_call(self) -> aiohttp.ClientSession:
        if self._closed:
            raise CloudError("this cloud client is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl or True),
                timeout=aiohttp.ClientTimeout(total=self._timeout, connect=self._connect_timeout),
                headers={"User-Agent": "cobridge-cloud-client", "Accept": "application/json"},
                trust_env=False,
            )
        return self._session

    def _url(self, operation: str, target: Target, path: str) -> URL:
        base = self._urls[target]
        if base is None:
            raise CloudError(f"{operation} needs the service's {target} URL; this client has none")
        return URL(base + path)

    async def _request(
        self,
        operation: str,
        method: str,
        target: Target,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Params | None = None,
        policy: RetryPolicy = IDEMPOTENT,
        stream: bool = False,
        timeout_s: float | None = None,
    ) -> Reply:
        """Send one call, with retries per `policy`; a 2xx `Reply` or a `CloudError`.

        With `stream`, the reply holds the open response: read it with `_text_chunks`.
        `timeout_s` bounds each attempt instead of the client's `timeout` (a long poll).
        """
        url = self._url(operation, target, path)
        session = self._session_for_call()
        sent_headers = {"Content-Type": "application/json"} if body is not None else {}
        sent_headers.update(headers or {})
        # The bearer token goes to the API listener only, never to the connector one.
        if target == "api" and self._token:
            sent_headers["Authorization"] = f"Bearer {self._token}"
        timeout = None
        if timeout_s is not None:
            timeout = aiohttp.ClientTimeout(total=timeout_s, connect=self._connect_timeout)
        if stream:
            # A long export is bounded by silence, not by its total length.
            timeout = aiohttp.ClientTimeout(
                total=None, connect=self._connect_timeout, sock_read=self._timeout
            )
        call = CallStats(operation)

        async def attempt() -> Reply:
            call.attempts += 1
            async with self.governor.slot():
                try:
                    return await self._attempt(
                        session, operation, method, url, body, sent_headers, params, timeout, stream
                    )
                except Transient as failure:
                    call.failures.append(failure.what)
                    if failure.status in (429, 503):
                        call.throttled += 1
                        wait = failure.retry_after
                        self.governor.throttled(None if wait is None else min(wait, self._max_wait))
                    raise

        async def sleep(seconds: float) -> None:
            call.waited += seconds
            await asyncio.sleep(seconds)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=WaitRetryAfterOrBackoff(initial=self._initial_wait, max_wait=self._max_wait),
            retry=retry_if_exception(lambda e: isinstance(e, Transient) and policy.retries(e)),
            sleep=sleep,
            reraise=True,
        )
        ok = False
        try:
            reply = await retrying(attempt)
            ok = True
            return reply
        except Transient as failure:
            tried = ", ".join(f"{n} x {what}" for what, n in Counter(call.failures).items())
            raise CloudUnavailable(
                f"{operation}: {method} {url} did not succeed after {call.attempts} "
                f"attempt(s) and {call.waited:.1f} s of waiting ({policy.name} retries, at most "
                f"{self._max_attempts} attempts): {tried}",
                attempts=call.attempts,
                status=failure.status,
                api_code=failure.api_code,
                retry_after=failure.retry_after,
            ) from (failure.__cause__ or failure)
        finally:
            self.stats.record(call, ok=ok)

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        operation: str,
        method: str,
        url: URL,
        body: bytes | None,
        headers: Mapping[str, str],
        params: Params | None,
        timeout: aiohttp.ClientTimeout | None,
        stream: bool,
    ) -> Reply:
        try:
            response = await session.request(
                method,
                url,
                data=body,
                headers=headers,
                params=params,
                allow_redirects=False,
                **({"timeout": timeout} if timeout else {}),
            )
        except aiohttp.ClientConnectorCertificateError as exc:
            raise CloudTlsError(
                f"{operation}: the certificate of {url.origin()} is not trusted: "
                f"{exc.certificate_error}"
            ) from exc
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as exc:
            raise Transient(f"could not connect ({self._brief(exc)})", sent=False) from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise Transient(f"no answer ({self._brief(exc)})", sent=True) from exc
        except aiohttp.ClientError as exc:
            raise CloudError(f"{operation}: {method} {url} failed: {self._brief(exc)}") from exc
        keep_open = False
        try:
            if not 200 <= response.status < 300:
                error = api_error(
                    response.status,
                    await response.read(),
                    reason=response.reason,
                    content_type=response.content_type,
                    operation=operation,
                    url=str(url),
                )
                if response.status in RETRY_STATUSES:
                    raise Transient(
                        f"HTTP {response.status} {error.code}",
                        sent=True,
                        status=response.status,
                        api_code=error.code,
                        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                    )
                raise error
            keep_open = stream
            data = b"" if stream else await response.read()
            return Reply(
                response.status, response.headers, data, str(url), response if stream else None
            )
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise Transient(f"answer cut off ({self._brief(exc)})", sent=True) from exc
        finally:
            if not keep_open:
                response.release()

    def _brief(self, exc: BaseException) -> str:
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return f"{type(exc).__name__}, connect timeout {self._connect_timeout:g} s"
        if isinstance(exc, aiohttp.ClientConnectorError):
            return str(exc.os_error) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            return f"{type(exc).__name__}, timeout {self._timeout:g} s"
        text = str(exc)
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

    async def _call(
        self,
        operation: str,
        method: str,
        target: Target,
        path: str,
        model: type[M],
        *,
        send: BaseModel | None = None,
        params: Params | None = None,
        policy: RetryPolicy = IDEMPOTENT,
    ) -> M:
        """One JSON call: `send` as the body, the answer parsed as `model`."""
        body = send.model_dump_json(by_alias=True).encode() if send is not None else None
        reply = await self._request(
            operation, method, target, path, body=body, params=params, policy=policy
        )
        return self._decode(operation, reply, model)

    def _decode(self, operation: str, reply: Reply, model: type[M]) -> M:
        try:
            return model.model_validate_json(reply.body)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "(body)"
            raise CloudProtocolError(
                f"{operation}: {reply.url} answered {reply.status} with a body that is not a "
                f"valid {model.__name__} ({exc.error_count()} problem(s), first: {where}: "
                f"{first['msg']})"
            ) from exc

    async def _text_chunks(
        self, operation: str, reply: Reply, *, expect: str
    ) -> AsyncIterator[str]:
        """The streamed body of `reply` (of content type `expect`) as text chunks.

        The response is released when the iterator ends or is closed.
        """
        response = reply.response
        assert response is not None, "only a streamed reply has an open response"
        try:
            if response.content_type != expect:
                raise CloudProtocolError(
                    f"{operation}: {reply.url} answered {response.content_type}, not {expect}"
                )
            try:
                decoder = codecs.getincrementaldecoder(response.charset or "utf-8")()
            except LookupError:
                raise CloudProtocolError(
                    f"{operation}: {reply.url} sent an unknown charset {response.charset!r}"
                ) from None
            async for chunk in response.content.iter_chunked(_STREAM_CHUNK):
                text = decoder.decode(chunk)
                if text:
                    yield text
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise CloudUnavailable(
                f"{operation}: the stream from {reply.url} broke off ({self._brief(exc)}); "
                "what was received is incomplete",
                attempts=1,
            ) from exc
        except UnicodeDecodeError as exc:
            raise CloudProtocolError(
                f"{operation}: {reply.url} sent text that is not valid: {exc}"
            ) from exc
        finally:
            response.release()


def _base_url(url: str | None, name: str, allow_http: bool) -> str | None:
    if url is None:
        return None
    parsed = URL(url)
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise ValueError(f"{name} must be an https:// URL with a host, not {url!r}")
    if parsed.scheme == "http" and not allow_http:
        raise ValueError(f"{name} must use https:// (plain http only for local tests)")
    if parsed.user or parsed.password or parsed.query_string or parsed.fragment:
        raise ValueError(f"{name} must not carry credentials, a query or a fragment")
    return url.rstrip("/")
