"""HTTP/1.1 keep-alive connections to Persona on asyncio protocols, answers parsed by httptools (llhttp).

Every Persona call is one small request whose answer is read in full, to one origin, with no redirects,
cookies, streaming or HTTP/2. For that, httpcore2 and h11 do much more work than needed: measured against
the sandbox on this project's 2-core machine, one GET took ~240-320 us of CPU through httpcore2's pool and
~40-50 us here (benchmarks/README.md, "the connection to Persona"). On a server whose one interpreter is the
bottleneck under load, that is throughput. What is hard about HTTP/1.1 (framing by length or chunks,
keep-alive rules, malformed answers) is left to llhttp, the parser Node.js uses, through httptools (the
parser uvicorn prefers). What is left here is the pool and the failure rules.

Failures are raised as httpx2's errors, whose types `persona.attempts` judges ("may this attempt have
been applied?"). The rules lean the same way: `ConnectError`, `ConnectTimeout`, `PoolTimeout` and
`LocalProtocolError` only when no byte of the request was written; once it may have been written, every
failure (`WriteTimeout`, `ReadTimeout`, `ReadError`, `RemoteProtocolError`) says it may have been applied.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any, cast

import anyio
import httptools
import httpx2

#: An idle connection older than this is closed rather than reused: a server drops idle keep-alive
#: connections after a while (uvicorn after 5 s), and a request written as it does so is lost.
KEEPALIVE_EXPIRY_S = 4.0
#: Idle connections kept for reuse, per origin.
MAX_IDLE = 20
#: Requests in flight at once, over all origins; more wait for a slot, up to the pool timeout.
MAX_IN_FLIGHT = 100
#: How long a connection attempt to one address goes unanswered before the next address is tried too.
HAPPY_EYEBALLS_DELAY_S = 0.25


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole HTTP answer."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Timeouts:
    """httpx2's four timeouts, in seconds (None: no limit)."""

    connect: float | None = None
    read: float | None = None
    write: float | None = None
    pool: float | None = None

    @classmethod
    def of(cls, extensions: Mapping[str, object]) -> Timeouts:
        """From a request's `timeout` extension, as `httpx2.Timeout.as_dict()` gives it."""
        given = extensions.get("timeout")
        if not isinstance(given, Mapping):
            return cls()
        return cls(
            connect=given.get("connect"),
            read=given.get("read"),
            write=given.get("write"),
            pool=given.get("pool"),
        )


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection, carrying one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answered: asyncio.Future[Answer] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._status = 0
        self._heard = False  # a byte of the current answer has arrived
        self._complete = False  # the current answer has been read to its end
        self._keep_alive = False  # the answer allows another request on this connection
        self._until_close = False  # the answer's body is delimited by the end of the connection
        self._read_timeout: float | None = None
        self._last_read = 0.0
        self._overdue: asyncio.TimerHandle | None = None
        self.closed = False
        self.idle_since = 0.0

    # -- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._answered is None or self._complete:
            # Bytes nobody asked for: the connection's state is unknown, so it is not used again.
            self.close()
            return
        self._heard = True
        self._last_read = self._loop.time()
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(httpx2.RemoteProtocolError(f"an answer from Persona this client cannot read: {exc!r}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._release_writer()
        if self._answered is None or self._answered.done():
            return
        if exc is None and self._until_close:
            self.on_message_complete()
        elif exc is not None:
            self._fail(httpx2.ReadError(f"connection to Persona lost: {exc}"))
        elif not self._heard:
            self._fail(httpx2.RemoteProtocolError("Persona closed the connection without answering"))
        else:
            self._fail(
                httpx2.RemoteProtocolError("Persona closed the connection in the middle of its answer")
            )

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        self._release_writer()

    # -- httptools callbacks --------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:  # a second answer to one request: read nothing more, reuse nothing
            self._keep_alive = False
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._complete:
            self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._complete:
            return
        self._status = self._parser.get_status_code()
        # Neither a length nor chunks: the answer ends where the server closes the connection.
        self._until_close = self._status not in (204, 304) and not any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self._headers
        )

    def on_body(self, body: bytes) -> None:
        if not self._complete:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self._complete:
            return
        # Asked here: llhttp forgets the answer's keep-alive flags once this callback returns.
        self._keep_alive = self._parser.should_keep_alive()
        self._complete = True
        self._cancel_overdue()
        if self._answered is not None and not self._answered.done():
            self._answered.set_result(Answer(self._status, self._headers, b"".join(self._body)))

    # -- one exchange ---------------------------------------------------------------------------------

    async def exchange(self, request: bytes, timeouts: Timeouts) -> Answer:
        """Write `request`, read its answer. On any failure, or if cancelled, the connection is closed."""
        assert self._transport is not None
        if self.closed:  # lost between connecting and now: nothing of the request has been written
            raise httpx2.ConnectError("Persona closed the connection before the request was sent")
        self._headers, self._body, self._status = [], [], 0
        self._heard = self._complete = self._keep_alive = self._until_close = False
        answered: asyncio.Future[Answer] = self._loop.create_future()
        self._answered = answered
        try:
            self._transport.write(request)
            if self._writable is not None:
                await self._drained(timeouts.write)
            self._read_timeout = timeouts.read
            if timeouts.read is not None:
                self._last_read = self._loop.time()
                self._overdue = self._loop.call_later(timeouts.read, self._check_overdue)
            return await answered
        except BaseException:
            self.close()
            raise
        finally:
            self._cancel_overdue()
            self._answered = None

    def reusable(self) -> bool:
        return not self.closed and self._complete and self._keep_alive

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    async def _drained(self, timeout: float | None) -> None:
        writable = self._writable
        if writable is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(writable), timeout)
        except TimeoutError:
            raise httpx2.WriteTimeout("Persona did not take the request in time") from None

    def _release_writer(self) -> None:
        if self._writable is not None:
            if not self._writable.done():
                self._writable.set_result(None)
            self._writable = None

    def _check_overdue(self) -> None:
        self._overdue = None
        timeout = self._read_timeout
        if timeout is None or self._answered is None or self._answered.done():
            return
        waited = self._loop.time() - self._last_read
        if waited < timeout:  # something arrived since the timer was set: wait the rest
            self._overdue = self._loop.call_later(timeout - waited, self._check_overdue)
            return
        self._fail(httpx2.ReadTimeout("Persona did not answer in time"))

    def _cancel_overdue(self) -> None:
        if self._overdue is not None:
            self._overdue.cancel()
            self._overdue = None

    def _fail(self, error: Exception) -> None:
        if self._answered is not None and not self._answered.done():
            self._answered.set_exception(error)


class ConnectionPool:
    """Keep-alive connections by origin, reused most-recent first, with at most `max_in_flight` requests
    at once."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        keepalive_expiry: float = KEEPALIVE_EXPIRY_S,
    ) -> None:
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._idle: dict[tuple[bytes, bytes, int], deque[_Connection]] = {}
        self._slots = asyncio.Semaphore(max_in_flight)
        self._closed = False

    async def request(
        self,
        method: bytes,
        url: httpx2.URL,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeouts: Timeouts,
    ) -> Answer:
        """One request and its whole answer (httpx2's errors on failure; see the module docstring)."""
        scheme, host = url.raw_scheme, url.raw_host
        if scheme not in (b"http", b"https"):
            raise httpx2.UnsupportedProtocol(f"unsupported URL scheme {scheme.decode(errors='replace')!r}")
        if method == b"HEAD":  # its answer's length describes a body that never comes
            raise httpx2.UnsupportedProtocol("HEAD requests are not sent: Persona's API has no use for them")
        request = _serialize(method, url.raw_path, headers, body)
        origin = (scheme, host, url.port or (443 if scheme == b"https" else 80))
        slots = self._slots
        if slots.locked():
            try:
                await asyncio.wait_for(slots.acquire(), timeouts.pool)
            except TimeoutError:
                raise httpx2.PoolTimeout("no free connection to Persona in time") from None
        else:
            await slots.acquire()
        try:
            connection = self._reuse(origin) or await self._connect(origin, timeouts.connect)
            answer = await connection.exchange(request, timeouts)
            self._keep(origin, connection)
            return answer
        finally:
            slots.release()

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().close()

    def _reuse(self, origin: tuple[bytes, bytes, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self._keepalive_expiry:
                return connection
            connection.close()
        return None

    async def _connect(self, origin: tuple[bytes, bytes, int], timeout: float | None) -> _Connection:
        scheme, raw_host, port = origin
        host = raw_host.decode("ascii")
        loop = asyncio.get_running_loop()
        tls = scheme == b"https"
        if tls and self._ssl_context is None:
            self._ssl_context = httpx2.create_ssl_context()
        context = self._ssl_context if tls else None
        try:
            with anyio.fail_after(timeout):
                return await _happy_eyeballs(loop, host, port, context)
        except TimeoutError:
            raise httpx2.ConnectTimeout(f"no connection to {host}:{port} in time") from None
        except OSError as exc:  # refused, unreachable, name not found, TLS handshake failed
            raise httpx2.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc

    def _keep(self, origin: tuple[bytes, bytes, int], connection: _Connection) -> None:
        idle = self._idle.setdefault(origin, deque())
        if self._closed or not connection.reusable() or len(idle) >= MAX_IDLE:
            connection.close()
            return
        connection.idle_since = asyncio.get_running_loop().time()
        idle.append(connection)


async def _happy_eyeballs(
    loop: asyncio.AbstractEventLoop, host: str, port: int, context: ssl.SSLContext | None
) -> _Connection:
    """A connection to the first of `host`'s addresses that answers (Happy Eyeballs, RFC 8305).

    Addresses are tried in the resolver's order with the families alternated, each one
    `HAPPY_EYEBALLS_DELAY_S` after the previous or as soon as it failed, so an address that never answers
    (IPv6 routed but broken, say) costs 250 ms, not the connect timeout. Done here rather than by the
    loop: asyncio's loop has the option, uvloop's does not. A TLS handshake that fails counts as that
    address failing. Raises the last address's `OSError` when none answers.
    """
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = _interleaved([info[4] for info in infos], [info[0] for info in infos])
    won: list[_Connection] = []
    failures: list[OSError] = []
    async with anyio.create_task_group() as attempts:

        async def attempt(address: tuple[Any, ...], failed: anyio.Event) -> None:
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop),
                    address[0],
                    address[1],
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
            except OSError as exc:
                failures.append(exc)
                failed.set()
                return
            if won:  # another address answered first
                connection.close()
                return
            won.append(connection)
            attempts.cancel_scope.cancel()

        for address in addresses:
            failed = anyio.Event()
            attempts.start_soon(attempt, address, failed)
            with anyio.move_on_after(HAPPY_EYEBALLS_DELAY_S):
                await failed.wait()
    if won:
        return won[0]
    raise failures[-1] if failures else OSError(f"{host} has no address")


def _interleaved(addresses: list[tuple[Any, ...]], families: list[int]) -> list[tuple[Any, ...]]:
    """`addresses` in the resolver's order, the first family's and the others' taking turns."""
    paired = list(zip(addresses, families, strict=True))
    first = [address for address, family in paired if family == families[0]]
    others = [address for address, family in paired if family != families[0]]
    return [address for turn in zip_longest(first, others) for address in turn if address is not None]


def _serialize(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    """The request's bytes. A line break in the target or a header would split the request in two, so
    it is refused before anything is written (`LocalProtocolError`: not sent)."""
    if _breaks_line(target) or b" " in target:
        raise httpx2.LocalProtocolError("the request target contains a space or a line break")
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        if _breaks_line(name) or _breaks_line(value) or b":" in name:
            raise httpx2.LocalProtocolError(f"header {name!r} contains a line break or a colon")
        parts += (name, b": ", value, b"\r\n")
    parts += (b"\r\n", body)
    return b"".join(parts)


def _breaks_line(value: bytes) -> bool:
    return b"\r" in value or b"\n" in value or b"\0" in value
