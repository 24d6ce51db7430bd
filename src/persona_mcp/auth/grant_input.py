"""Grant values as administrators write them: expiries, rates and tool lists, parsed strictly.

Shared by `persona-mcp grants` flags and `grants.toml`, so both spell things the same way and refuse the
same mistakes (a typo must be an error, never a silently different grant).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from persona_mcp.auth.grant import ToolLimit

_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_RATE = re.compile(r"^(\d+)\s*(?:/\s*(s|sec|second|m|min|minute))?$")
NEVER = frozenset({"never", "none"})


class GrantInputError(ValueError):
    """A value an administrator wrote that does not parse; the message says what is expected."""


def parse_expiry(text: str, *, now: datetime, allow_relative: bool = True) -> datetime | None:
    """`30d`, `12h`, `90m`, `2w` (relative to `now`), an ISO date (midnight UTC) or datetime, or `never`."""
    value = text.strip().lower()
    if value in NEVER:
        return None
    match = _DURATION.match(value)
    if match:
        if not allow_relative:
            raise GrantInputError(
                f"relative expiry {text!r} is not allowed here: it would move on every apply; use an ISO date"
            )
        amount = int(match.group(1))
        if amount <= 0:
            raise GrantInputError("expiry duration must be positive")
        return now + timedelta(**{_UNITS[match.group(2)]: amount})
    return parse_instant(text)


def parse_instant(text: str) -> datetime:
    """An ISO date (midnight UTC) or datetime (UTC unless it names an offset)."""
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise GrantInputError(
            f"expiry {text!r} is not a duration (30d, 12h), an ISO date or datetime, or 'never'"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_rate(text: str | int) -> int:
    """Calls per minute from `60`, `60/min` or `2/s`."""
    if isinstance(text, int):
        if isinstance(text, bool) or text <= 0:
            raise GrantInputError("rate must be a positive number of calls per minute")
        return text
    match = _RATE.match(text.strip().lower())
    if not match:
        raise GrantInputError(f"rate {text!r} is not like '60/min' or '2/s'")
    amount = int(match.group(1))
    per_second = match.group(2) in ("s", "sec", "second")
    rate = amount * 60 if per_second else amount
    if rate <= 0:
        raise GrantInputError("rate must be positive")
    return rate


def parse_names(values: Iterable[str]) -> frozenset[str]:
    """Tool names from repeated and/or comma-separated values."""
    return frozenset(name.strip() for value in values for name in value.split(",") if name.strip())


_TOOL_LIMIT = re.compile(r"^([a-z][a-z0-9_]*)\s*=\s*(\d+)\s*/\s*(\d*)\s*(s|m|h|d|sec|min|hour|day)$")
_WINDOW_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_tool_limit(text: str) -> ToolLimit:
    """`decline_inquiry=10/1h` (or `10/h`, `100/30m`, `5/1d`): at most so many calls per window."""
    match = _TOOL_LIMIT.match(text.strip().lower())
    if not match:
        raise GrantInputError(f"tool limit {text!r} is not like 'decline_inquiry=10/1h'")
    tool, calls, count, unit = match.groups()
    window = int(count or "1") * _WINDOW_SECONDS[unit]
    if int(calls) <= 0 or window <= 0:
        raise GrantInputError(f"tool limit {text!r}: calls and window must be positive")
    return ToolLimit(tool, int(calls), window)


def parse_tool_limits(values: Iterable[str]) -> tuple[ToolLimit, ...]:
    """Tool limits from repeated and/or comma-separated values, one per tool."""
    limits = [parse_tool_limit(item) for value in values for item in value.split(",") if item.strip()]
    tools = [limit.tool for limit in limits]
    duplicated = sorted({tool for tool in tools if tools.count(tool) > 1})
    if duplicated:
        raise GrantInputError(f"more than one limit for {', '.join(duplicated)}")
    return tuple(sorted(limits))
