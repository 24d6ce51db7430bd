"""The stdio wire read and written on the event loop's thread, with no worker thread per message.

The SDK's `stdio_server` reads each line and writes each message through anyio's `AsyncFile`, a worker
thread per call: three thread hand-offs for every request answered, about a sixth of the server's GIL
time with 8 requests in flight (issue 18, `benchmarks/README.md`). A read blocked in a worker thread
cannot be cancelled either, so SIGTERM could not end a session whose client kept stdin open and silent.

Desktop clients spawn the server with pipes or socket pairs for stdin and stdout. Those can be polled
on every platform's event loop, so the wire reads and writes them directly, non-blocking, and waits on
the loop only when they are not ready; a read is cancelled like any other wait. Anything else is served
by the SDK's transport: a regular file or the null device redirected in or out (they cannot be polled),
a terminal (macOS's kqueue cannot poll one, and a person typing needs no speed), a wire that stderr
shares (making it non-blocking would make the log's writes fail when it is full), Windows.

Like the SDK, the wire claims fds 0 and 1 while it serves: it moves to private duplicates, fd 0 then
reads the null device and fd 1 writes to stderr, so a stray `print` or a child process cannot corrupt
the JSON-RPC stream. Both descriptors, and the wire's blocking mode, are restored when the session ends.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager, suppress

import anyio
import mcp_types as types
import structlog
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

#: A line longer than this is dropped (reported to the session as an error, like a line that is not
#: JSON-RPC) rather than buffered without bound; the next line is read as usual.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: Bytes asked of the descriptor per read.
_CHUNK_BYTES = 256 * 1024

log = structlog.get_logger("persona_mcp.stdio")

Streams = tuple[ObjectReceiveStream[SessionMessage | Exception], ObjectSendStream[SessionMessage]]


class MessageTooLarge(ValueError):
    """A line on stdin was longer than the limit; it was skipped, and the next line is read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a message longer than {limit} bytes was dropped")


def served_on_loop(stdin_fd: int = 0, stdout_fd: int = 1, stderr_fd: int = 2) -> bool:
    """Whether the wire can be served on the loop: both ends pipes or sockets, neither shared with stderr."""
    try:
        wire = [os.fstat(fd) for fd in (stdin_fd, stdout_fd)]
    except OSError:
        return False
    if not all(stat.S_ISFIFO(end.st_mode) or stat.S_ISSOCK(end.st_mode) for end in wire):
        return False
    try:
        log_file = os.fstat(stderr_fd)
    except OSError:
        return True
    return not any(os.path.samestat(end, log_file) for end in wire)


@asynccontextmanager
async def stdio_wire() -> AsyncIterator[Streams]:
    """The session's read and write streams on this process's stdin and stdout."""
    if sys.platform == "win32" or not served_on_loop():
        async with stdio_server() as (read_stream, write_stream):
            yield read_stream, write_stream
        return
    with ExitStack() as claims:
        read_fd = claims.enter_context(_claimed(0, _null_device))
        write_fd = claims.enter_context(_claimed(1, _stderr_or_null))
        async with pipe_wire(read_fd, write_fd) as streams:
            yield streams


@asynccontextmanager
async def pipe_wire(
    read_fd: int, write_fd: int, *, max_message_bytes: int = MAX_MESSAGE_BYTES
) -> AsyncIterator[Streams]:
    """Newline-delimited JSON-RPC over two pollable descriptors, which stay open (the caller owns them).

    The descriptors are read and written directly, waiting on the event loop only when they are not
    ready: no loop transport takes them over (uvloop's would close them, asyncio's would not).
    """
    incoming_writer, incoming = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    outgoing, outgoing_reader = anyio.create_memory_object_stream[SessionMessage](0)
    reading = anyio.CancelScope()
    with _non_blocking(read_fd), _non_blocking(write_fd):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_read_messages, read_fd, incoming_writer, max_message_bytes, reading)
            tasks.start_soon(_write_messages, outgoing_reader, write_fd, reading)
            try:
                yield incoming, outgoing
            finally:  # the session is over: stop reading, let the answers already sent leave
                reading.cancel()
                outgoing.close()


async def _read_messages(
    fd: int, sink: ObjectSendStream[SessionMessage | Exception], limit: int, scope: anyio.CancelScope
) -> None:
    with scope:
        await _split_lines(fd, sink, limit)


async def _split_lines(fd: int, sink: ObjectSendStream[SessionMessage | Exception], limit: int) -> None:
    """Split the input into lines as it arrives; a line over `limit` is reported once and skipped."""
    pending = bytearray()
    dropping = False  # inside a line over the limit, already reported: skipped up to its newline
    async with sink:
        while chunk := await _read(fd):
            searched, start = len(pending), 0
            pending += chunk
            while (end := pending.find(b"\n", searched)) >= 0:
                if not dropping and end - start > limit:
                    await _too_large(sink, limit)
                elif not dropping:
                    await _deliver(bytes(pending[start:end]), sink)
                dropping = False
                start = searched = end + 1
            del pending[:start]
            if len(pending) > limit:
                if not dropping:
                    await _too_large(sink, limit)
                dropping = True
                pending.clear()
        if not dropping:
            await _deliver(bytes(pending), sink)  # a last line without its newline


async def _too_large(sink: ObjectSendStream[SessionMessage | Exception], limit: int) -> None:
    log.warning("stdio message dropped", reason=f"longer than {limit} bytes", hint="send smaller arguments")
    await sink.send(MessageTooLarge(limit))


async def _read(fd: int) -> bytes:
    while True:
        try:
            return os.read(fd, _CHUNK_BYTES)
        except BlockingIOError:
            await anyio.wait_readable(fd)


async def _deliver(line: bytes, sink: ObjectSendStream[SessionMessage | Exception]) -> None:
    if not line.strip():
        return
    try:
        message = types.jsonrpc_message_adapter.validate_json(line.decode("utf-8", "replace"), by_name=False)
    except Exception as exc:  # reported to the session, which logs it, as the SDK's transport does
        await sink.send(exc)
        return
    await sink.send(SessionMessage(message))


async def _write_messages(
    source: ObjectReceiveStream[SessionMessage], fd: int, reading: anyio.CancelScope
) -> None:
    """Write each answer whole; a client that closed its end ends the session as the end of input does."""
    client_gone = False
    async with source:
        async for session_message in source:  # taken to the end, so the server never waits on a send
            if client_gone:
                continue
            try:
                await _write(fd, session_message)
            except (BrokenPipeError, ConnectionResetError):
                log.info("stdio client stopped reading", outcome="session ends")
                client_gone = True
                reading.cancel()


async def _write(fd: int, session_message: SessionMessage) -> None:
    json = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
    data = memoryview((json + "\n").encode())
    while data:
        with suppress(BlockingIOError):
            data = data[os.write(fd, data) :]
        if data:  # the client is not reading as fast as the server answers
            await anyio.wait_writable(fd)


@contextmanager
def _non_blocking(fd: int) -> Iterator[None]:
    """Non-blocking while served; its open file may be shared with another process: its mode is put back."""
    blocking = os.get_blocking(fd)
    os.set_blocking(fd, False)
    try:
        yield
    finally:
        with suppress(OSError):
            os.set_blocking(fd, blocking)


@contextmanager
def _claimed(fd: int, diversion: Callable[[], int]) -> Iterator[int]:
    """Serve `fd`'s wire from a private duplicate while `fd` itself points at `diversion()`."""
    import fcntl

    private = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    try:
        substitute = diversion()
        try:
            os.dup2(substitute, fd)
        finally:
            os.close(substitute)
        try:
            yield private
        finally:
            os.dup2(private, fd)
    finally:
        os.close(private)


def _null_device() -> int:
    return os.open(os.devnull, os.O_RDONLY)


def _stderr_or_null() -> int:
    try:
        return os.dup(2)
    except OSError:
        return os.open(os.devnull, os.O_WRONLY)


__all__ = ["MAX_MESSAGE_BYTES", "MessageTooLarge", "pipe_wire", "served_on_loop", "stdio_wire"]
