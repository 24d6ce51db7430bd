"""Cursor pagination as Persona does it: newest first, `page[after]`/`page[before]` ids, relative links."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from persona_mcp.sandbox.errors import ApiError
from persona_mcp.sandbox.records import Record

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class PageRequest:
    size: int = DEFAULT_PAGE_SIZE
    after: str | None = None
    before: str | None = None


def page_request(query: Mapping[str, str], body_page: Mapping[str, Any] | None = None) -> PageRequest:
    """Read `page[size|after|before]` from the query string, or from a search body's `page` object."""
    source: dict[str, Any] = {
        key: query[f"page[{key}]"] for key in ("size", "after", "before") if f"page[{key}]" in query
    }
    for key, value in (body_page or {}).items():
        source.setdefault(key, value)
    raw_size = source.get("size", DEFAULT_PAGE_SIZE)
    try:
        size = int(raw_size)
    except (TypeError, ValueError):
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE or isinstance(raw_size, bool):
        raise ApiError(
            400,
            "Bad request",
            f"page[size] must be an integer between 1 and {MAX_PAGE_SIZE}",
            pointer="/page/size",
        )
    after, before = source.get("after"), source.get("before")
    return PageRequest(size, str(after) if after else None, str(before) if before else None)


def paginate(
    records: Sequence[Record],
    page: PageRequest,
    base_path: str,
    keep: Mapping[str, str] | None = None,
) -> tuple[list[Record], dict[str, str | None]]:
    """Cut one page out of newest-first `records` and build `links.prev`/`links.next`.

    `keep` holds query parameters (filters, an explicit size) that the links must carry forward.
    An unknown cursor id yields an empty page rather than an error.
    """
    ids = [r.id for r in records]
    if page.after is not None:
        start = ids.index(page.after) + 1 if page.after in ids else len(ids)
        end = start + page.size
    elif page.before is not None:
        end = ids.index(page.before) if page.before in ids else 0
        start = max(0, end - page.size)
    else:
        start, end = 0, page.size
    chosen = list(records[start:end])
    links: dict[str, str | None] = {"prev": None, "next": None}
    if chosen and start > 0:
        links["prev"] = _link(base_path, keep, "before", chosen[0].id)
    if chosen and end < len(records):
        links["next"] = _link(base_path, keep, "after", chosen[-1].id)
    return chosen, links


def _link(base_path: str, keep: Mapping[str, str] | None, direction: str, cursor: str) -> str:
    params = {k: v for k, v in (keep or {}).items() if not k.startswith("page[") or k == "page[size]"}
    params[f"page[{direction}]"] = cursor
    return f"{base_path}?{urlencode(params)}"
