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


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    return structlog.PrintLogger(file=sys.stderr)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines to stderr, for the server, the sandbox and the CLI alike."""
    numeric = logging.getLevelName(level.upper())
    logging.basicConfig(stream=sys.stderr, level=numeric, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _drop_secrets,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        # Not cached: the logger looks up sys.stderr when it is made, so in-process CLI runs (tests that
        # swap stderr) and the server that follows them both log to the stderr of the moment.
        cache_logger_on_first_use=False,
    )
