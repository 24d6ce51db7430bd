"""A deadline for a client to send its request headers, against slowloris-style connection exhaustion.

uvicorn's HTTP protocols only time out a connection that is idle between requests (`timeout_keep_alive`),
and that timer is cancelled by the first byte of the next request: a client that opens a connection and
trickles an incomplete header block, a byte now and then, holds the connection (and its file descriptor)
forever. uvicorn has no setting for this, so this protocol wraps uvicorn's: from the moment the server
waits for a request (the connection opened, or the previous response ended with no other request
received) the client has `header_timeout` seconds in total to complete the headers; past that it gets
408 and the connection is closed. The body and the response (an SSE stream may stay open for hours) are
not limited by it.

It wraps uvicorn's httptools protocol (llhttp, the parser uvicorn prefers when it is installed), not its
h11 one: h11 parses in Python, which cost persona-mcp 0.18 ms of the GIL a call against the bare SDK
server's 0.04 on httptools (`gil_breakdown.py`, 8 sessions).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_TIMEOUT_BODY = b"Request headers were not sent in time.\n"
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a total time limit on reading each request's headers."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()  # a request line and all its headers have arrived
        super().on_headers_complete()

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
        self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


def header_deadline_protocol(header_timeout: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class to give `uvicorn.Config(http=...)` for this header timeout."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout": header_timeout})
