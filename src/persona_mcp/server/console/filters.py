"""The audit search form, as a filter: what the page's query string means, parsed once.

Relative presets (`1h`, `24h`, `7d`) are resolved against the request time; an ISO time is taken as
given. Anything unparsable is reported back on the page, never silently dropped, so a reviewer does not
read an unfiltered list as an answer to a filtered question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.datastructures import QueryParams

from persona_mcp.audit.query import AuditFilter

PRESETS: dict[str, str] = {
    "1h": "last hour",
    "24h": "last 24 hours",
    "7d": "last 7 days",
    "30d": "last 30 days",
}
DECISIONS = ("allowed", "denied")
OUTCOMES = ("ok", "error", "unknown")
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
_RELATIVE = re.compile(r"^(\d{1,4})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
#: The query-string fields the search form owns (exports and page links repeat exactly these).
FIELDS = ("principal", "grant", "tool", "object", "call", "decision", "outcome", "kind", "since", "until")


@dataclass(slots=True)
class SearchForm:
    values: dict[str, str] = field(default_factory=dict)
    unresolved: bool = False
    page_size: int = DEFAULT_PAGE_SIZE
    before: int | None = None
    errors: list[str] = field(default_factory=list)

    def query_string(self, **override: Any) -> str:
        """The search as a query string (for page links and exports), with `override` applied."""
        from urllib.parse import urlencode

        params: dict[str, Any] = {k: v for k, v in self.values.items() if v}
        if self.unresolved:
            params["unresolved"] = "1"
        if self.page_size != DEFAULT_PAGE_SIZE:
            params["size"] = str(self.page_size)
        params.update({k: v for k, v in override.items() if v is not None})
        return urlencode(params)


def parse_time(value: str, now: datetime) -> datetime:
    """`7d`, `12h`, `30m` before now, or an ISO 8601 time (naive means UTC)."""
    match = _RELATIVE.match(value.strip())
    if match:
        amount, unit = match.groups()
        return now - timedelta(**{_UNITS[unit]: int(amount)})
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_form(params: QueryParams) -> SearchForm:
    form = SearchForm(values={name: params.get(name, "").strip() for name in FIELDS})
    form.unresolved = params.get("unresolved") in ("1", "on", "true")
    size = params.get("size", "")
    if size:
        if size.isdigit() and int(size) in PAGE_SIZES:
            form.page_size = int(size)
        else:
            form.errors.append(f"page size {size!r}: choose one of {', '.join(map(str, PAGE_SIZES))}")
    before = params.get("before", "")
    if before:
        if before.isdigit():
            form.before = int(before)
        else:
            form.errors.append("the page cursor is not a record number: start the search again")
    return form


def to_filter(form: SearchForm, now: datetime, environments: frozenset[str] | None) -> AuditFilter:
    """The filter the form asks for (errors about bad values go into `form.errors`)."""
    v = form.values
    times: dict[str, datetime | None] = {"since": None, "until": None}
    for name in ("since", "until"):
        if v.get(name):
            try:
                times[name] = parse_time(v[name], now)
            except ValueError:
                form.errors.append(f"{name} {v[name]!r}: use a preset such as 7d, 12h, 30m or an ISO time")
    decision = v.get("decision") or None
    if decision is not None and decision not in DECISIONS:
        form.errors.append(f"decision {decision!r}: choose one of {', '.join(DECISIONS)}")
        decision = None
    outcome = v.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        form.errors.append(f"outcome {outcome!r}: choose one of {', '.join(OUTCOMES)}")
        outcome = None
    return AuditFilter(
        principal=v.get("principal") or None,
        grant_id=v.get("grant") or None,
        tool=v.get("tool") or None,
        kind=v.get("kind") or None,
        decision=decision,
        outcome=outcome,
        call_id_prefix=v.get("call") or None,
        object_id=v.get("object") or None,
        since=times["since"],
        until=times["until"],
        unresolved=form.unresolved,
        environments=environments,
    )


__all__ = [
    "DECISIONS",
    "OUTCOMES",
    "PAGE_SIZES",
    "PRESETS",
    "SearchForm",
    "parse_time",
    "read_form",
    "to_filter",
]
