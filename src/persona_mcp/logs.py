"""Operational logs: structlog JSON on stderr (stdout carries JSON-RPC only in stdio mode).

These are not the audit log. A last processor drops any key that looks like it could carry a secret or
a body, so a careless `log.info(..., headers=...)` cannot leak one.

Personal data stays out too. HTTP libraries log every request with its full URL, and Persona's list
filters put personal values in the query string (`filter[reference-id]=jane.doe@example.com`); the audit
log digests those values, so the operational log must not spell them out. Request logging of those
libraries, and the statement logging of the database drivers, is therefore silenced at every level
(their warnings still come through), and any URL that still reaches a log line loses its query string.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from types import ModuleType
from typing import TYPE_CHECKING, Any


def _structlog_without_rich() -> ModuleType:
    """structlog, imported with `rich` hidden from it (issue 18: imports not used on the serving path).

    When `rich` is installed (the CLI's tables need it) structlog imports it at once, for the tracebacks
    and pretty-printed locals of its development console renderer: 40-70 ms of every start on a small
    VM, spent before `initialize` is answered. These logs render JSON and format exceptions with the
    standard library (`format_exc_info`), so structlog is imported while `sys.modules` marks `rich` as
    absent (the import system's documented way to refuse an import), and the mark is removed at once:
    the CLI imports `rich` as usual when it draws a table. If structlog was imported earlier, it is left
    as it is.
    """
    hide = "rich" not in sys.modules and "structlog" not in sys.modules
    if hide:
        sys.modules["rich"] = None  # type: ignore[assignment]
    try:
        import structlog
    finally:
        if hide:
            del sys.modules["rich"]
    return structlog


if TYPE_CHECKING:
    import structlog
else:
    structlog = _structlog_without_rich()

_FORBIDDEN_KEYS = frozenset(
    {"authorization", "headers", "body", "json", "token", "api_key", "secret", "password", "content"}
)


#: Loggers that write one line per HTTP request with its URL (upstream calls, this server's access log) or
#: per SQL statement with its parameters (audit queries by principal or e-mail digest, grant lookups).
QUIET_LOGGERS = (
    "httpx2",
    "httpcore2",
    "httpx",
    "httpcore",
    "uvicorn.access",
    "aiosqlite",
    "sqlalchemy.engine",
    "psycopg",
)

_URL_QUERY = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#\"'<>]*)\?[^\s#\"'<>]*")


def _without_query(text: str) -> str:
    return _URL_QUERY.sub(r"\1?[query dropped]", text)


def _drop_url_queries(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Cut the query string off every URL in a log line: it carries search filters (personal data)."""
    for key, value in event.items():
        if isinstance(value, str) and "://" in value:
            event[key] = _without_query(value)
    return event


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


#: One for every logger: it holds no stream of its own (`_StderrNow`), and structlog asks the factory for
#: a logger on every call of an uncached logger, filtered calls included (~0.8 us each made anew).
_STDERR_LOGGER = structlog.PrintLogger(file=_StderrNow())  # type: ignore[arg-type]


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    return _STDERR_LOGGER


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
                _drop_url_queries,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[
            *_SHARED,
            structlog.processors.format_exc_info,
            _drop_secrets,
            _drop_url_queries,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        # Not cached, so a later `configure_logging` (another level) reaches loggers already in use.
        cache_logger_on_first_use=False,
    )
