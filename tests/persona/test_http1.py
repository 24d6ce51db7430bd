"""The connection pool to Persona over real sockets: framing, reuse, and which failures say "not sent".

Each test runs a raw TCP server that answers from a script, so it can misbehave in ways no HTTP server
library would: close without answering, answer half, stay silent, trickle, send garbage. What matters
most is the error type: `persona.attempts` tells an agent a call is safe to repeat only on the errors that
prove nothing was sent, so a failure after the request may have been written must never be one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import anyio
import httpx2
import pytest
from tests.operations._sinks import self_signed_tls

from persona_mcp.persona.attempts import failure_may_have_applied
from persona_mcp.persona.http1 import ConnectionPool, Timeouts, _interleaved
from persona_mcp.persona.transport import PersonaTransport

pytestmark = pytest.mark.anyio

_OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'

Answerer = Callable[["RawServer", int, asyncio.StreamWriter], Awaitable[bool]]
_Error = TypeVar("_Error", bound=Exception)


@dataclass
class RawServer:
    """A TCP server on loopback: how many connections it accepted and the requests it read."""

    url: str
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head and its body (by Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + (await reader.readexactly(length) if length else b"")


@asynccontextmanager
async def raw_server(
    answer: Callable[[RawServer, int, asyncio.StreamWriter], Awaitable[bool]],
) -> AsyncIterator[RawServer]:
    """Serves each request read with `answer(server, request_index, writer)`; the connection stays open
    while it returns True."""
    server_state = RawServer(url="")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_state.connections += 1
        try:
            while True:
                try:
                    request = await read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                server_state.requests.append(request)
                if not await answer(server_state, len(server_state.requests) - 1, writer):
                    return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server_state.url = f"http://127.0.0.1:{port}/api/v1/accounts"
    async with server:
        yield server_state


async def answer_ok(_server: RawServer, _index: int, writer: asyncio.StreamWriter) -> bool:
    writer.write(_OK)
    await writer.drain()
    return True


async def get(
    pool: ConnectionPool, url: str, *, read: float = 5.0, headers: dict[str, str] | None = None
) -> httpx2.Response:
    request = httpx2.Request("GET", url, headers=headers)
    answer = await pool.request(
        b"GET", request.url, request.headers.raw, b"", Timeouts(connect=5, read=read, write=5, pool=5)
    )
    return httpx2.Response(answer.status, headers=answer.headers, content=answer.body)


async def failed_get(
    answer: Answerer, error: type[_Error], *, read: float = 5.0, headers: dict[str, str] | None = None
) -> tuple[_Error, RawServer]:
    """The error one GET ends in against a server answering with `answer`, and what that server saw."""
    async with raw_server(answer) as server:
        pool = ConnectionPool()
        with anyio.fail_after(10), pytest.raises(error) as caught:
            await get(pool, server.url, read=read, headers=headers)
        await pool.aclose()
    return caught.value, server


async def test_consecutive_requests_share_one_kept_alive_connection() -> None:
    async with raw_server(answer_ok) as server:
        pool = ConnectionPool()
        with anyio.fail_after(10):
            answers = [await get(pool, server.url) for _ in range(3)]
        await pool.aclose()
    assert [answer.json() for answer in answers] == [{"ok": True}] * 3
    assert server.connections == 1 and len(server.requests) == 3


async def test_the_request_carries_its_method_target_headers_and_body() -> None:
    async with raw_server(answer_ok) as server:
        transport = PersonaTransport()
        with anyio.fail_after(10):
            await transport.handle_async_request(
                httpx2.Request(
                    "POST", server.url + "?include=x", headers={"Idempotency-Key": "k-1"}, json={"a": 1}
                )
            )
        await transport.aclose()
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /api/v1/accounts?include=x HTTP/1.1"
    assert (
        b"Idempotency-Key: k-1" in lines
        and b"Host: 127.0.0.1:" + server.url.split(":")[2].split("/")[0].encode() in lines
    )
    assert body == b'{"a":1}'


async def test_concurrent_requests_each_get_their_own_answer() -> None:
    async def echo_path(_server: RawServer, _index: int, writer: asyncio.StreamWriter) -> bool:
        target = _server.requests[_index].split(b" ")[1]
        await asyncio.sleep(0.01)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(target), target))
        return True

    async with raw_server(echo_path) as server:
        pool = ConnectionPool()
        results: dict[int, bytes] = {}

        async def one(index: int) -> None:
            results[index] = (await get(pool, f"{server.url}/act_{index}")).content

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                for index in range(20):
                    tasks.start_soon(one, index)
        await pool.aclose()
    assert results == {index: f"/api/v1/accounts/act_{index}".encode() for index in range(20)}


async def test_a_chunked_answer_is_read_whole() -> None:
    async def chunked(_server: RawServer, _index: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for piece in (b'{"da', b'ta":', b"[]}"):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        return True

    async with raw_server(chunked) as server:
        pool = ConnectionPool()
        with anyio.fail_after(10):
            first = await get(pool, server.url)
            second = await get(pool, server.url)
        await pool.aclose()
    assert first.json() == second.json() == {"data": []}
    assert server.connections == 1


async def test_an_answer_that_ends_with_the_connection_is_read_to_its_end_and_the_connection_not_reused() -> (
    None
):
    async def until_close(_server: RawServer, _index: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(b'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{"data":')
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"null}")
        return False

    async with raw_server(until_close) as server:
        pool = ConnectionPool()
        with anyio.fail_after(10):
            answers = [await get(pool, server.url) for _ in range(2)]
        await pool.aclose()
    assert [answer.json() for answer in answers] == [{"data": None}] * 2
    assert server.connections == 2


async def test_connection_close_in_an_answer_with_a_length_is_honoured() -> None:
    async def close_after(_server: RawServer, _index: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        await asyncio.sleep(0.05)  # the connection is still open when the next request is made
        return False

    async with raw_server(close_after) as server:
        pool = ConnectionPool()
        with anyio.fail_after(10):
            await get(pool, server.url)
            await get(pool, server.url)
        await pool.aclose()
    assert server.connections == 2 and len(server.requests) == 2


async def test_a_connection_closed_while_idle_is_never_written_to() -> None:
    async def answer_then_close(_server: RawServer, _index: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(_OK)  # says keep-alive, then closes at once: an idle timeout, early
        return False

    async with raw_server(answer_then_close) as server:
        pool = ConnectionPool()
        with anyio.fail_after(10):
            await get(pool, server.url)
            await anyio.sleep(0.1)
            await get(pool, server.url)
        await pool.aclose()
    assert server.connections == 2 and len(server.requests) == 2


async def test_an_idle_connection_past_its_expiry_is_not_reused() -> None:
    async with raw_server(answer_ok) as server:
        pool = ConnectionPool(keepalive_expiry=0.05)
        with anyio.fail_after(10):
            await get(pool, server.url)
            await anyio.sleep(0.1)
            await get(pool, server.url)
            await get(pool, server.url)
        await pool.aclose()
    assert server.connections == 2


async def test_a_server_that_closes_without_answering_may_have_applied_the_request() -> None:
    async def hang_up(_server: RawServer, _index: int, _writer: asyncio.StreamWriter) -> bool:
        return False

    error, server = await failed_get(hang_up, httpx2.RemoteProtocolError)
    assert len(server.requests) == 1
    assert failure_may_have_applied(error)


async def test_an_answer_cut_short_may_have_applied_the_request() -> None:
    async def half(_server: RawServer, _index: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(b'HTTP/1.1 201 Created\r\ncontent-length: 100\r\n\r\n{"data"')
        await writer.drain()
        return False

    error, _server = await failed_get(half, httpx2.RemoteProtocolError)
    assert failure_may_have_applied(error)


async def test_a_malformed_answer_is_a_protocol_error_that_may_have_applied() -> None:
    async def garbage(_server: RawServer, _index: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        return True

    error, _server = await failed_get(garbage, httpx2.RemoteProtocolError)
    assert failure_may_have_applied(error)


async def test_a_silent_server_is_a_read_timeout_that_may_have_applied() -> None:
    async def silent(_server: RawServer, _index: int, _writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    error, _server = await failed_get(silent, httpx2.ReadTimeout, read=0.2)
    assert failure_may_have_applied(error)


async def test_the_read_timeout_bounds_the_silence_between_bytes_not_the_whole_answer() -> None:
    async def trickle(_server: RawServer, _index: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n")
        for byte in b"[1234]":
            await writer.drain()
            await asyncio.sleep(0.1)
            writer.write(bytes([byte]))
        return True

    async with raw_server(trickle) as server:
        pool = ConnectionPool()
        with anyio.fail_after(10):
            answer = await get(pool, server.url, read=0.3)  # 0.7 s in all, never 0.3 s without a byte
        await pool.aclose()
    assert answer.json() == [1234]


async def test_a_line_break_in_a_header_is_refused_before_anything_is_sent() -> None:
    error, server = await failed_get(
        answer_ok, httpx2.LocalProtocolError, headers={"X-Note": "a\r\nX-Injected: 1"}
    )
    assert server.connections == 0 and server.requests == []
    assert not failure_may_have_applied(error)


async def test_a_refused_connection_is_a_connect_error_that_was_not_sent() -> None:
    server = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    pool = ConnectionPool()
    with anyio.fail_after(10), pytest.raises(httpx2.ConnectError) as caught:
        await get(pool, f"http://127.0.0.1:{port}/api/v1/accounts")
    assert not failure_may_have_applied(caught.value)


async def test_a_request_waiting_for_a_free_slot_past_the_pool_timeout_was_not_sent() -> None:
    async def slow(_server: RawServer, _index: int, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.5)
        writer.write(_OK)
        return True

    async with raw_server(slow) as server:
        pool = ConnectionPool(max_in_flight=1)
        request = httpx2.Request("GET", server.url)
        timeouts = Timeouts(connect=5, read=5, write=5, pool=0.1)
        outcomes: list[BaseException | int] = []

        async def one() -> None:
            try:
                outcomes.append(
                    (await pool.request(b"GET", request.url, request.headers.raw, b"", timeouts)).status
                )
            except httpx2.PoolTimeout as exc:
                outcomes.append(exc)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(one)
                await anyio.sleep(0.05)
                tasks.start_soon(one)
        await pool.aclose()
    assert outcomes[1] == 200 and isinstance(outcomes[0], httpx2.PoolTimeout)
    assert not failure_may_have_applied(outcomes[0])
    assert len(server.requests) == 1


async def test_a_request_cancelled_while_waiting_for_its_answer_leaves_no_connection_to_reuse() -> None:
    async def slow_first(_server: RawServer, index: int, writer: asyncio.StreamWriter) -> bool:
        if index == 0:
            await asyncio.sleep(0.3)  # answered after the caller gave up: must not be read as the next answer
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n%d" % index)
        return True

    async with raw_server(slow_first) as server:
        pool = ConnectionPool()
        with anyio.move_on_after(0.1):
            await get(pool, server.url)
        with anyio.fail_after(10):
            answer = await get(pool, server.url)
        await pool.aclose()
    assert answer.content == b"1"
    assert server.connections == 2


async def test_head_requests_are_refused_before_anything_is_sent() -> None:
    async with raw_server(answer_ok) as server:
        pool = ConnectionPool()
        request = httpx2.Request("HEAD", server.url)
        with pytest.raises(httpx2.UnsupportedProtocol):
            await pool.request(b"HEAD", request.url, request.headers.raw, b"", Timeouts())
        await pool.aclose()
    assert server.connections == 0


async def test_a_second_answer_to_one_request_is_not_read_as_the_next_requests_answer() -> None:
    async def twice(_server: RawServer, index: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n%dHTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nX"
            % index
        )
        return True

    async with raw_server(twice) as server:
        pool = ConnectionPool()
        with anyio.fail_after(10):
            first = await get(pool, server.url)
            second = await get(pool, server.url)
        await pool.aclose()
    assert (first.content, second.content) == (b"0", b"1")
    assert server.connections == 2


@asynccontextmanager
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[RawServer, ssl.SSLContext]]:
    """`raw_server(answer_ok)` behind TLS; the client context that trusts its certificate."""
    server_context, cert_path = self_signed_tls(tmp_path)
    state = RawServer(url="")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            while True:
                state.requests.append(await read_request(reader))
                writer.write(_OK)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context)
    state.url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/api/v1/accounts"
    async with server:
        yield state, ssl.create_default_context(cafile=str(cert_path))


async def test_requests_go_over_tls_and_reuse_the_tls_connection(tmp_path: Path) -> None:
    async with tls_server(tmp_path) as (server, trusted):
        transport = PersonaTransport(ssl_context=trusted)
        with anyio.fail_after(10):
            for _ in range(2):
                response = await transport.handle_async_request(httpx2.Request("GET", server.url))
                assert response.json() == {"ok": True}
        await transport.aclose()
    assert server.connections == 1 and len(server.requests) == 2


async def test_a_certificate_the_client_does_not_trust_is_a_connect_error_with_nothing_sent(
    tmp_path: Path,
) -> None:
    async with tls_server(tmp_path) as (server, _trusted):
        transport = PersonaTransport()  # the default context: the system's and certifi's authorities
        with anyio.fail_after(10), pytest.raises(httpx2.ConnectError) as caught:
            await transport.handle_async_request(httpx2.Request("GET", server.url))
        await transport.aclose()
    assert server.requests == []
    assert not failure_may_have_applied(caught.value)


async def test_a_connection_lost_before_the_request_is_written_fails_at_once_as_not_sent() -> None:
    """A server that hangs up as it accepts: the loss can arrive before the request is written, and must
    not leave the request waiting for an answer until the read timeout."""
    accepted = asyncio.Event()

    async def hang_up_at_once(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()
        accepted.set()

    server = await asyncio.start_server(hang_up_at_once, "127.0.0.1", 0)
    url = httpx2.URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/api/v1/accounts")
    pool = ConnectionPool()
    connection = await pool._connect((b"http", b"127.0.0.1", url.port or 80), 5.0)
    await accepted.wait()
    with anyio.fail_after(5):
        while not connection.closed:  # the server's close reaches the client
            await anyio.sleep(0.01)
    with anyio.fail_after(5), pytest.raises(httpx2.ConnectError) as caught:
        await connection.exchange(b"GET / HTTP/1.1\r\n\r\n", Timeouts(read=30))
    assert not failure_may_have_applied(caught.value)
    server.close()
    await server.wait_closed()


async def test_after_an_answer_that_switches_protocols_the_connection_is_not_used_again() -> None:
    async def switch_once(_server: RawServer, index: int, writer: asyncio.StreamWriter) -> bool:
        if index == 0:
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: x\r\n\r\n")
            writer.write(b"bytes of another protocol")
        else:
            writer.write(_OK)
        return True

    async with raw_server(switch_once) as server:
        pool = ConnectionPool()
        with anyio.fail_after(10):
            switched = await get(pool, server.url)
            answer = await get(pool, server.url)
        await pool.aclose()
    assert switched.status_code == 101  # a status PersonaClient reports as an unexpected answer
    assert answer.json() == {"ok": True} and server.connections == 2


@pytest.mark.parametrize(
    "anyio_backend", [("asyncio", {}), ("asyncio", {"use_uvloop": True})], ids=["asyncio", "uvloop"]
)
async def test_an_address_that_never_answers_does_not_hold_up_the_next_one(
    monkeypatch: pytest.MonkeyPatch, anyio_backend: object
) -> None:
    """Happy Eyeballs: a name with an address that drops connection attempts (IPv6 routed but broken, say)
    and one that answers connects through the second after 250 ms, not after the connect timeout."""
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(0)  # a full accept queue: further SYNs are dropped, their connects hang
    fillers = [socket.socket() for _ in range(2)]
    for filler in fillers:
        filler.setblocking(False)
        filler.connect_ex(blackhole.getsockname())
    try:
        async with raw_server(answer_ok) as server:
            good = ("127.0.0.1", int(server.url.split(":")[2].split("/")[0]))
            loop = asyncio.get_running_loop()

            async def two_addresses(*_args: object, **_kwargs: object) -> list[tuple[object, ...]]:
                stream = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
                return [(*stream, blackhole.getsockname()), (*stream, good)]

            monkeypatch.setattr(loop, "getaddrinfo", two_addresses)
            pool = ConnectionPool()
            request = httpx2.Request("GET", "http://persona.test/api/v1/accounts")
            with anyio.fail_after(5):
                answer = await pool.request(
                    b"GET", request.url, request.headers.raw, b"", Timeouts(connect=4, read=5)
                )
            await pool.aclose()
        assert answer.status == 200 and server.connections == 1
    finally:
        for filler in fillers:
            filler.close()
        blackhole.close()


def test_addresses_are_tried_with_their_families_taking_turns_the_resolvers_first_family_first() -> None:
    v6a, v6b, v4a, v4b = ("::1", 1), ("::2", 1), ("127.0.0.1", 1), ("127.0.0.2", 1)
    families = [socket.AF_INET6, socket.AF_INET6, socket.AF_INET, socket.AF_INET]
    assert _interleaved([v6a, v6b, v4a, v4b], families) == [v6a, v4a, v6b, v4b]
    assert _interleaved([v4a, v6a, v6b], [socket.AF_INET, socket.AF_INET6, socket.AF_INET6]) == [
        v4a,
        v6a,
        v6b,
    ]
