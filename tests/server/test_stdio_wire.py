"""The stdio wire: whole messages in and out on the event loop's thread, and a session a signal can end.

`persona_mcp/server/stdio_wire.py` replaces the SDK's thread-per-line transport for pipes and sockets.
These tests pin what a client relies on: every message arrives whole and in order however the bytes
are cut, a bad or oversized line is reported and the next one read, answers reach a slow reader whole,
nothing but JSON-RPC reaches stdout, the descriptors come back as they were, and SIGTERM ends a session
even while the client keeps stdin open (it did not: the SDK's read was blocked in a worker thread).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp.shared.message import SessionMessage
from structlog.testing import capture_logs

from persona_mcp.server.stdio_wire import MessageTooLarge, pipe_wire, served_on_loop

pytestmark = pytest.mark.anyio


def _request(request_id: int, **params: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "ping", "params": params}).encode()


@contextmanager
def _pipes() -> Iterator[tuple[int, int, int, int]]:
    """(server reads, test writes, server writes, test reads)."""
    into_server, to_server = os.pipe()
    from_server, out_of_server = os.pipe()
    try:
        yield into_server, to_server, out_of_server, from_server
    finally:
        for fd in (into_server, to_server, from_server, out_of_server):
            with suppress(OSError):  # a test may have closed its end already
                os.close(fd)


async def _received(read_stream: object, count: int) -> list[SessionMessage | Exception]:
    items: list[SessionMessage | Exception] = []
    with anyio.fail_after(10):
        for _ in range(count):
            items.append(await read_stream.receive())  # type: ignore[attr-defined]
    return items


async def test_messages_arrive_whole_and_in_order_however_the_input_is_cut() -> None:
    big = "x" * (1024 * 1024)
    with _pipes() as (server_in, to_server, server_out, _):
        async with pipe_wire(server_in, server_out) as (read_stream, _write):
            first = _request(1)
            os.write(to_server, first[:10])
            await anyio.sleep(0.05)
            os.write(to_server, first[10:] + b"\n\n" + _request(2) + b"\r\n" + _request(3)[:5])
            await anyio.sleep(0.05)
            os.write(to_server, _request(3)[5:] + b"\n")
            async with anyio.create_task_group() as tasks:  # a 1 MiB line, while it is read
                tasks.start_soon(anyio.to_thread.run_sync, os.write, to_server, _request(4, blob=big) + b"\n")
                items = await _received(read_stream, 4)
    assert all(isinstance(item, SessionMessage) for item in items)
    messages = [item.message for item in items if isinstance(item, SessionMessage)]
    assert [message.id for message in messages] == [1, 2, 3, 4]  # type: ignore[union-attr]
    assert isinstance(messages[3], types.JSONRPCRequest) and messages[3].params == {"blob": big}


async def test_a_line_that_is_not_json_rpc_or_too_long_is_reported_and_the_next_one_is_read() -> None:
    with _pipes() as (server_in, to_server, server_out, _):
        with capture_logs() as logs:
            async with pipe_wire(server_in, server_out, max_message_bytes=200) as (read_stream, _write):
                os.write(to_server, b"not json\n" + b"y" * 300 + b"\n" + _request(1) + b"\n")
                os.write(to_server, b"z" * 150)  # a long line arriving in pieces, over the limit
                await anyio.sleep(0.05)
                os.write(to_server, b"z" * 150)
                await anyio.sleep(0.05)
                os.write(to_server, b"z" * 150 + b"\n" + _request(2) + b"\n")
                items = await _received(read_stream, 5)
    assert isinstance(items[0], Exception) and not isinstance(items[0], MessageTooLarge)
    assert isinstance(items[1], MessageTooLarge) and "200 bytes" in str(items[1])
    assert isinstance(items[2], SessionMessage) and items[2].message.id == 1  # type: ignore[union-attr]
    assert isinstance(items[3], MessageTooLarge)
    assert isinstance(items[4], SessionMessage) and items[4].message.id == 2  # type: ignore[union-attr]
    dropped = [entry for entry in logs if entry["event"] == "stdio message dropped"]
    assert len(dropped) == 2 and dropped[0]["log_level"] == "warning" and "200 bytes" in dropped[0]["reason"]


async def test_a_last_line_without_its_newline_is_read_and_the_input_then_ends() -> None:
    with _pipes() as (server_in, to_server, server_out, _):
        async with pipe_wire(server_in, server_out) as (read_stream, _write):
            os.write(to_server, _request(7))
            os.close(to_server)  # the end of input
            with anyio.fail_after(10):
                items = [item async for item in read_stream]
    assert len(items) == 1 and isinstance(items[0], SessionMessage) and items[0].message.id == 7  # type: ignore[union-attr]


async def test_answers_reach_a_client_that_reads_slowly_whole_and_in_order() -> None:
    payload = "a" * (200 * 1024)  # each answer is larger than a pipe's buffer
    with _pipes() as (server_in, _, server_out, from_server):
        async with pipe_wire(server_in, server_out) as (_read, write_stream):

            def read_slowly() -> bytes:
                received = b""
                while received.count(b"\n") < 20:
                    time.sleep(0.002)
                    received += os.read(from_server, 16 * 1024)
                return received

            async with anyio.create_task_group() as tasks:
                reading = anyio.Event()
                out: list[bytes] = []

                async def collect() -> None:
                    out.append(await anyio.to_thread.run_sync(read_slowly))
                    reading.set()

                tasks.start_soon(collect)
                with anyio.fail_after(30):
                    for request_id in range(20):
                        answer = types.JSONRPCResponse(jsonrpc="2.0", id=request_id, result={"p": payload})
                        await write_stream.send(SessionMessage(answer))
                    await reading.wait()
    lines = out[0].split(b"\n")
    assert lines[-1] == b"" and len(lines) == 21
    assert [json.loads(line)["id"] for line in lines[:-1]] == list(range(20))
    assert all(json.loads(line)["result"]["p"] == payload for line in lines[:-1])


def test_pipes_and_sockets_are_served_on_the_loop_files_terminals_and_a_wire_shared_with_stderr_are_not(
    tmp_path: Path,
) -> None:
    read_end, write_end = os.pipe()
    log_read, log_write = os.pipe()
    ours, theirs = socket.socketpair()
    regular = os.open(tmp_path / "requests.jsonl", os.O_RDWR | os.O_CREAT)
    null = os.open(os.devnull, os.O_RDWR)
    terminal, terminal_side = os.openpty()
    try:
        assert served_on_loop(read_end, write_end, log_write)
        assert served_on_loop(ours.fileno(), ours.fileno(), log_write), "one socket pair for both"
        assert not served_on_loop(regular, write_end, log_write), "a file cannot be polled"
        assert not served_on_loop(read_end, null, log_write), "nor can the null device"
        assert not served_on_loop(read_end, log_write, log_write), "stderr's writes must stay blocking"
        assert not served_on_loop(read_end, 987, log_write), "a closed descriptor"
        assert not served_on_loop(terminal, write_end, log_write), "a terminal: a person typing"
    finally:
        for fd in (read_end, write_end, log_read, log_write, regular, null, terminal, terminal_side):
            os.close(fd)
        ours.close()
        theirs.close()


#: A child serving an echo session on the real stdio wire, writing stray output while it serves.
_ECHO = textwrap.dedent(
    """
    import os, sys, anyio, mcp_types as types
    from mcp.shared.message import SessionMessage
    from persona_mcp.server.stdio_wire import stdio_wire

    async def main():
        async with stdio_wire() as (read_stream, write_stream):
            async for item in read_stream:
                os.write(1, b"stray write\\n")
                print("stray print", flush=True)
                answer = types.JSONRPCResponse(jsonrpc="2.0", id=item.message.id, result={"echo": True})
                await write_stream.send(SessionMessage(answer))
            await write_stream.aclose()
        sys.stdout.write(f"restored blocking={os.get_blocking(1)}\\n")

    anyio.run(main, backend_options={"use_uvloop": sys.argv[1] == "uvloop"})
    """
)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("wire", ["pipes", "socket pair", "a file"])
def test_only_json_rpc_reaches_stdout_while_serving_and_the_descriptors_come_back(
    loop: str, wire: str
) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is the `fast` extra's loop")
    requests = b"".join(_request(n) + b"\n" for n in range(1, 4))
    command = [sys.executable, "-c", _ECHO, loop]
    if wire == "socket pair":
        ours, theirs = socket.socketpair()
        with ours, theirs:
            child = subprocess.Popen(command, stdin=theirs, stdout=theirs, stderr=subprocess.PIPE)
            theirs.close()  # the child's copy is the only one left: its exit ends our reading
            ours.sendall(requests)
            ours.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := ours.recv(65536):
                out += chunk
            err = child.communicate(timeout=30)[1]
    elif wire == "pipes":
        done = subprocess.run(command, input=requests, capture_output=True, timeout=30, check=False)
        out, err = done.stdout, done.stderr
    else:  # stdin from a regular file: the SDK's transport, the same behaviour
        with tempfile.TemporaryFile() as stdin:
            stdin.write(requests)
            stdin.seek(0)
            done = subprocess.run(command, stdin=stdin, capture_output=True, timeout=30, check=False)
        out, err = done.stdout, done.stderr
    lines = out.decode().splitlines()
    assert [json.loads(line)["id"] for line in lines[:-1]] == [1, 2, 3], err.decode()
    assert lines[-1] == "restored blocking=True"
    assert err.decode().count("stray write") == 3 and err.decode().count("stray print") == 3


def _initialized_server(data_dir: Path) -> subprocess.Popen[bytes]:
    """`persona-mcp serve` over pipes, past `initialize` and a first answer from the open stack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERSONA_MCP_", "PERSONA_API_"))}
    env["PERSONA_MCP_DATA_DIR"] = str(data_dir)
    server = subprocess.Popen(
        [sys.executable, "-m", "persona_mcp.cli", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert server.stdin is not None and server.stdout is not None
    client = {"name": "t", "version": "1"}
    initialize = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}
    for request_id, method, params in ((1, "initialize", initialize), (2, "tools/list", {})):
        request = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        server.stdin.write(json.dumps(request).encode() + b"\n")
        server.stdin.flush()
        assert json.loads(server.stdout.readline())["id"] == request_id
    return server


def test_sigterm_ends_a_stdio_session_while_the_client_keeps_stdin_open(tmp_path: Path) -> None:
    """The reproduction: before, the blocked read of the next line held the process while stdin was open."""
    server = _initialized_server(tmp_path)
    try:
        server.send_signal(signal.SIGTERM)  # stdin stays open and silent
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate()


def test_a_client_that_stops_reading_ends_the_session_cleanly(tmp_path: Path) -> None:
    """Before, the answer written to a closed stdout ended the server with "unexpected BrokenPipeError"."""
    server = _initialized_server(tmp_path)
    assert server.stdin is not None and server.stdout is not None
    try:
        server.stdout.close()
        with suppress(BrokenPipeError):  # the server may have stopped reading already
            for request_id in range(3, 13):
                request = {"jsonrpc": "2.0", "id": request_id, "method": "tools/list"}
                server.stdin.write(json.dumps(request).encode() + b"\n")
                server.stdin.flush()
                time.sleep(0.05)
        assert server.wait(timeout=60) == 0
        stderr = server.communicate()[1].decode()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert "stdio client stopped reading" in stderr and "BrokenPipeError" not in stderr
