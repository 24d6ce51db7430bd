"""Issue 11, case 3: clients that never finish their request headers (slowloris) are cut off in time.

Raw sockets against the real server: each sends the start of a request and then trickles header bytes,
never the blank line that ends the headers. Every one must be closed within the configured header
timeout, however often it sends a byte; a complete request is not limited by it.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx2
import pytest
from _http_server import http_server
from anyio.abc import SocketStream

from persona_mcp.config import HttpSettings
from persona_mcp.server.header_deadline import MAX_HEADER_BYTES

pytestmark = pytest.mark.anyio

HEADER_TIMEOUT = 1.0
#: Generous slack for a loaded machine: the point is "closed", not "closed fast".
SLACK = 10.0


async def _read_until_closed(stream: SocketStream) -> bytes:
    received = b""
    try:
        while True:
            received += await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
        return received


async def test_connections_that_trickle_partial_headers_are_closed_within_the_header_timeout(
    tmp_path: Path,
) -> None:
    limits = HttpSettings(header_timeout_seconds=HEADER_TIMEOUT)
    async with http_server(tmp_path, http=limits) as running:
        port = int(running.base.rsplit(":", 1)[1])
        answers: list[bytes] = []

        async def slowloris() -> None:
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                await stream.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")

                async def trickle() -> None:
                    for index in range(1000):
                        await stream.send(f"X-Slow-{index}: a\r\n".encode())
                        await anyio.sleep(HEADER_TIMEOUT / 5)

                async with anyio.create_task_group() as tg:
                    tg.start_soon(trickle)
                    answers.append(await _read_until_closed(stream))
                    tg.cancel_scope.cancel()

        with anyio.fail_after(HEADER_TIMEOUT + SLACK):
            async with anyio.create_task_group() as tg:
                for _ in range(50):
                    tg.start_soon(slowloris)

        assert len(answers) == 50
        assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers[:3]
        async with httpx2.AsyncClient() as http:
            assert (await http.get(f"{running.base}/healthz")).status_code == 200


async def test_a_connection_that_sends_nothing_is_closed_too(tmp_path: Path) -> None:
    limits = HttpSettings(header_timeout_seconds=HEADER_TIMEOUT)
    async with http_server(tmp_path, http=limits) as running:
        port = int(running.base.rsplit(":", 1)[1])
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            with anyio.fail_after(HEADER_TIMEOUT + SLACK):
                assert (await _read_until_closed(stream)).startswith(b"HTTP/1.1 408")


async def test_the_header_deadline_does_not_cut_a_request_whose_headers_arrived(tmp_path: Path) -> None:
    limits = HttpSettings(header_timeout_seconds=HEADER_TIMEOUT)
    async with http_server(tmp_path, http=limits) as running:
        port = int(running.base.rsplit(":", 1)[1])
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            body = b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}'
            head = f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
            await stream.send(head.encode() + b"Content-Type: application/json\r\n\r\n")
            await anyio.sleep(HEADER_TIMEOUT * 2)  # the body comes late; the headers were in time
            await stream.send(body)
            with anyio.fail_after(SLACK):
                answer = await stream.receive()
        assert answer.startswith(b"HTTP/1.1 401"), "answered (401: no token), not timed out"


async def _read_response(stream: SocketStream, received: bytes = b"") -> tuple[bytes, bytes]:
    """One whole response with a Content-Length body, and whatever came after it."""
    while b"\r\n\r\n" not in received:
        received += await stream.receive()
    head, rest = received.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        rest += await stream.receive()
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


async def test_the_next_request_on_a_kept_alive_connection_gets_the_same_deadline(tmp_path: Path) -> None:
    """The deadline is armed again once a response ends, so a client cannot answer the first request
    promptly and then trickle the second one's headers forever."""
    limits = HttpSettings(header_timeout_seconds=HEADER_TIMEOUT)
    async with http_server(tmp_path, http=limits) as running:
        port = int(running.base.rsplit(":", 1)[1])
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            with anyio.fail_after(SLACK):
                first, _ = await _read_response(stream)
            assert first.startswith(b"HTTP/1.1 200")
            await stream.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")

            async def trickle() -> None:
                for index in range(1000):
                    await stream.send(f"X-Slow-{index}: a\r\n".encode())
                    await anyio.sleep(HEADER_TIMEOUT / 5)

            with anyio.fail_after(HEADER_TIMEOUT + SLACK):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(trickle)
                    answer = await _read_until_closed(stream)
                    tg.cancel_scope.cancel()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


async def test_pipelined_requests_are_all_answered_and_never_cut_by_the_deadline(tmp_path: Path) -> None:
    """Requests sent back to back on one connection: the ones whose headers arrived while an earlier one
    was answered must not be taken for a client that stopped sending."""
    limits = HttpSettings(header_timeout_seconds=HEADER_TIMEOUT)
    async with http_server(tmp_path, http=limits) as running:
        port = int(running.base.rsplit(":", 1)[1])
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 3)
            answers: list[bytes] = []
            rest = b""
            with anyio.fail_after(SLACK):
                for _ in range(3):
                    answer, rest = await _read_response(stream, rest)
                    answers.append(answer)
            await anyio.sleep(HEADER_TIMEOUT / 2)
            await stream.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            with anyio.fail_after(SLACK):
                fourth, _ = await _read_response(stream, rest)
        assert [answer[:12] for answer in [*answers, fourth]] == [b"HTTP/1.1 200"] * 4


def test_requests_are_parsed_by_llhttp_not_in_python() -> None:
    """uvicorn's httptools protocol (llhttp) under the deadline, not its h11 one (`header_deadline`)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from persona_mcp.server.serving import uvicorn_config

    config = uvicorn_config(object(), host="127.0.0.1", port=0)
    config.load()
    assert issubclass(config.http_protocol_class, HttpToolsProtocol)


async def test_a_header_block_larger_than_the_limit_is_refused_with_431(tmp_path: Path) -> None:
    """llhttp, unlike h11, puts no bound on an incomplete header block: without this limit a client could
    fill the server's memory with headers well inside the deadline (20 MB were taken in one test)."""
    async with http_server(tmp_path) as running:
        port = int(running.base.rsplit(":", 1)[1])
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            line = b"X-Big: " + b"a" * 1000 + b"\r\n"
            with anyio.fail_after(SLACK):
                try:
                    for _ in range(MAX_HEADER_BYTES // len(line) + 2):
                        await stream.send(line)
                except (anyio.BrokenResourceError, ConnectionResetError):
                    pass  # closed by the server while the rest was still being sent
                answer = await _read_until_closed(stream)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
        async with httpx2.AsyncClient() as http:
            assert (await http.get(f"{running.base}/healthz")).status_code == 200


async def test_headers_within_the_limit_are_served_request_after_request(tmp_path: Path) -> None:
    """The count starts again with each request: three requests of 40 KiB of headers each, on one
    connection, are all answered."""
    async with http_server(tmp_path) as running:
        port = int(running.base.rsplit(":", 1)[1])
        padding = b"X-Pad: " + b"a" * (40 * 1024) + b"\r\n"
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            rest = b""
            for _ in range(3):
                await stream.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + padding + b"\r\n")
                with anyio.fail_after(SLACK):
                    answer, rest = await _read_response(stream, rest)
                assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
