"""Operational logs: structlog JSON on stderr (stdout carries JSON-RPC only in stdio mode).

These are not the audit log. A last processor drops any key that looks like it could carry a secret or
a body, so a careless `log.info(..., headers=...)` cannot leak one.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_FORBIDDEN_KEYS = frozenset(
    {"authorization", "headers", "body", "json", "token", "api_key", "secret", "password", "content"}
)


def _drop_secrets(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in _FORBIDDEN_KEYS:
            event[key] = "[dropped]"
    return event


class _StderrNow:
    """Writes to whatever `sys.stderr` is at the moment of writing, so a stream replaced and then closed
    (a test runner invoking the CLI in process) is never written to by a logger made while it was set."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    return structlog.PrintLogger(file=_StderrNow())  # type: ignore[arg-type]


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler that writes to whatever `sys.stderr` is when a record is emitted. It never holds on to
    a stream (`setStream` would flush the previous one, which may be closed by then, and raise into the
    code that logged, e.g. an HTTP request)."""

    def __init__(self) -> None:
        super().__init__(_StderrNow())


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str = "INFO") -> None:
    """JSON lines to stderr, for the server, the sandbox and the CLI alike.

    Standard-library records (the MCP SDK, uvicorn) go through the same processors, so stderr carries
    one format only, and the same secret filter applies to them.
    """
    numeric = logging.getLevelName(level.upper())
    handler = _CurrentStderr()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_SHARED, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _drop_secrets,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    structlog.configure(
        processors=[
            *_SHARED,
            structlog.processors.format_exc_info,
            _drop_secrets,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        # Not cached, so a later `configure_logging` (another level) reaches loggers already in use.
        cache_logger_on_first_use=False,
    )
