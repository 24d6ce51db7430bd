"""A deadline for a client to send its request headers, against slowloris-style connection exhaustion.

uvicorn's HTTP protocols only time out a connection that is idle between requests (`timeout_keep_alive`),
and that timer is cancelled by the first byte of the next request: a client that opens a connection and
trickles an incomplete header block, a byte now and then, holds the connection (and its file descriptor)
forever. uvicorn has no setting for this, so this protocol wraps uvicorn's: from the moment the server
waits for a request (the connection opened, or the previous response ended with no other request
received) the client has `header_timeout` seconds in total to complete the headers; past that it gets
408 and the connection is closed. The body and the response (an SSE stream may stay open for hours) are
not limited by it.

The header block is also limited in size (`MAX_HEADER_BYTES`): past it the client gets 431 and the
connection is closed, so a client cannot fill the server's memory with headers before the deadline.

It wraps uvicorn's httptools protocol (llhttp, the parser uvicorn prefers when it is installed), not its
h11 one: h11 parses in Python, which cost persona-mcp 0.18 ms of the GIL a call against the bare SDK
server's 0.04 on httptools (`gil_breakdown.py`, 8 sessions). h11 also capped an incomplete header block
(16 KiB); llhttp does not, hence the explicit limit.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024
"""Bytes a request may send before its headers are complete: far above what a client sends (a bearer JWT
and MCP's `Mcp-*` headers are a few KiB), far below what would matter to the server's memory."""


def _closing_response(status: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\n"
        b"content-type: text/plain; charset=utf-8\r\n"
        b"connection: close\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


_TIMEOUT_RESPONSE = _closing_response(b"408 Request Timeout", b"Request headers were not sent in time.\n")
_TOO_LARGE_RESPONSE = _closing_response(
    b"431 Request Header Fields Too Large", b"Request headers are larger than this server accepts.\n"
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a total time limit and a size limit on each request's headers."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        # Bytes received since the current request began, while its headers are incomplete; None while
        # its body is read (not limited here).
        self._header_bytes: int | None = 0

    def data_received(self, data: bytes) -> None:
        if self._header_bytes is not None:
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(_TOO_LARGE_RESPONSE)
                return
        super().data_received(data)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()  # a request line and all its headers have arrived
        self._header_bytes = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._header_bytes = 0  # what follows is the next request's
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._between_requests():
            self._arm_header_deadline()

    def _between_requests(self) -> bool:
        """No request whose headers arrived is waiting for its response or getting it: a pipelined one
        (queued, or just started by `on_response_complete`) keeps the deadline off."""
        return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_overdue)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_overdue(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing() or not self._between_requests():
            return
        self._refuse(_TIMEOUT_RESPONSE)

    def _refuse(self, response: bytes) -> None:
        """Answer `response` and close; with an earlier response still under way (a pipelined request),
        close without one, which would otherwise be written into the middle of it."""
        self._disarm_header_deadline()
        if self.transport.is_closing():
            return
        if self._between_requests():
            self.transport.write(response)
        self.transport.close()


def header_deadline_protocol(header_timeout: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class to give `uvicorn.Config(http=...)` for this header timeout."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout": header_timeout})
