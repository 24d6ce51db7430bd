"""The connection to Persona: httpcore2's connection pool behind httpx2's transport interface.

`PersonaClient` talks to one origin, sends its own headers, never follows redirects and never keeps cookies,
so `httpx2.AsyncClient`'s layers (URL and header merging, auth and redirect loops, cookie jar, streamed
response wrappers) are work done on every request for nothing. Measured against the sandbox on this
project's 2-core machine, a GET through the client cost ~1.2 ms of CPU, through this transport ~0.85 ms:
on a server whose one interpreter is the bottleneck under load, that is throughput.

`PersonaClient` keeps httpx2's `Request` and `Response` as its interface, so any httpx2 transport still
fits (tests hand it the sandbox's ASGI transport or a mock). This one, the default, reads the whole body
before returning (every Persona answer is read in full anyway) and maps httpcore2's errors to httpx2's,
the types `persona.attempts` judges ("may this attempt have been applied?").

A proxy named by the environment (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, as `urllib` reads them) gets
httpx2's own proxy transport instead: proxies are rare here and their handling is best left whole.
"""

from __future__ import annotations

import select
import ssl
import sys
import urllib.request
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import httpcore2
import httpx2

# httpcore2's error types and httpx2's counterparts, most specific first (the first match wins).
_ERRORS: tuple[tuple[type[Exception], type[httpx2.TransportError]], ...] = (
    (httpcore2.ConnectTimeout, httpx2.ConnectTimeout),
    (httpcore2.ReadTimeout, httpx2.ReadTimeout),
    (httpcore2.WriteTimeout, httpx2.WriteTimeout),
    (httpcore2.PoolTimeout, httpx2.PoolTimeout),
    (httpcore2.TimeoutException, httpx2.TimeoutException),
    (httpcore2.ConnectError, httpx2.ConnectError),
    (httpcore2.ReadError, httpx2.ReadError),
    (httpcore2.WriteError, httpx2.WriteError),
    (httpcore2.NetworkError, httpx2.NetworkError),
    (httpcore2.ProxyError, httpx2.ProxyError),
    (httpcore2.UnsupportedProtocol, httpx2.UnsupportedProtocol),
    (httpcore2.LocalProtocolError, httpx2.LocalProtocolError),
    (httpcore2.RemoteProtocolError, httpx2.RemoteProtocolError),
    (httpcore2.ProtocolError, httpx2.ProtocolError),
)


class _MappedErrors:
    """Re-raises an httpcore2 error as the httpx2 error of the same meaning."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is None:
            return
        for core_error, mapped in _ERRORS:
            if isinstance(error, core_error):
                raise mapped(str(error)) from error


_MAPPED = _MappedErrors()


class PersonaTransport(httpx2.AsyncBaseTransport):
    """httpx2's transport interface over one httpcore2 pool; answers come back fully read."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl_context or httpx2.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_SocketBackend(),
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        core_request = httpcore2.Request(
            method=request.method,
            url=httpcore2.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _MAPPED:
            answer = await self._pool.handle_async_request(core_request)
            try:
                body = b"".join([chunk async for chunk in answer.stream])  # type: ignore[union-attr]
            finally:
                await answer.aclose()
        return httpx2.Response(
            answer.status, headers=answer.headers, content=body, request=request, extensions=answer.extensions
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def persona_transport(base_url: str) -> httpx2.AsyncBaseTransport:
    """The transport for `base_url`: httpx2's proxy transport if the environment names a proxy for it,
    else `PersonaTransport`."""
    url = httpx2.URL(base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(url.host):
        return httpx2.AsyncHTTPTransport(proxy=proxy)
    return PersonaTransport()


class _SocketBackend(httpcore2.AnyIOBackend):
    """httpcore2's anyio backend, whose streams answer "is the socket readable?" without rebuilding anyio's
    attribute table: the pool asks that of every idle connection it considers for each request."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await super().connect_tcp(host, port, timeout, local_address, socket_options)
        return _SocketStream(stream)


class _SocketStream(httpcore2.AsyncNetworkStream):
    """A stream that delegates to httpcore2's, with the raw socket looked up once."""

    def __init__(self, stream: httpcore2.AsyncNetworkStream, raw_socket: Any = None) -> None:
        self._stream = stream
        self._socket = raw_socket if raw_socket is not None else stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        tls = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _SocketStream(tls, self._socket)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return _readable(self._socket)
        return self._stream.get_extra_info(info)


def _readable(sock: Any) -> bool:
    """Whether data (or the peer's close) waits on `sock`: an idle keep-alive connection that is readable
    was closed by the server. A socket that cannot be asked counts as readable, i.e. not reused."""
    if sock is None or sock.fileno() == -1:
        return True
    if sys.platform == "win32":  # pragma: no cover - no poll() there
        ready, _, _ = select.select([sock], [], [], 0)
        return bool(ready)
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
