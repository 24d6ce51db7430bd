"""Search arguments and request body shared by `search_accounts` and `search_inquiries`.

Persona's search query is a recursive AND/OR/NOT tree of predicates. An agent gets a flat list of
conditions and says whether all or any must hold: that covers the common queries with a schema that has
no unions, and still produces a body Persona's spec accepts. Search endpoints use POST but only read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from persona_mcp.pii import FIXED_PATTERN, PII
from persona_mcp.tools.factories import PageT, page_result
from persona_mcp.tools.inputs import PageInput
from persona_mcp.tools.results import ObjectView
from persona_mcp.tools.spec import ToolContext

SEARCH_ATTRIBUTE = r"^[a-z][a-z0-9_]{0,63}(\.[A-Za-z0-9_-]{1,64}){0,3}$"


class Condition(BaseModel):
    """One predicate: `<attribute> <operator> <value>`."""

    model_config = ConfigDict(extra="forbid")

    attribute: Annotated[str, FIXED_PATTERN] = Field(
        pattern=SEARCH_ATTRIBUTE,
        description="e.g. status, created_at, fields.age.",
    )
    operator: Literal["eq", "gt", "gte", "lt", "lte"] = Field("eq", description="Comparison.")
    value: Annotated[str | float | bool, PII] = Field(description="Dates as ISO 8601.")


class SearchInput(PageInput):
    """Conditions, how they combine, sort order, and the page."""

    conditions: list[Condition] = Field(min_length=1, max_length=20, description="Conditions.")
    match: Literal["all", "any"] = Field("all", description="all or any must hold.")
    sort_attribute: Annotated[str | None, FIXED_PATTERN] = Field(
        None, pattern=SEARCH_ATTRIBUTE, description="Sort by this attribute."
    )
    sort_direction: Literal["asc", "desc"] = Field("desc", description="Sort direction.")

    def search_body(self) -> dict[str, Any]:
        predicates = [c.model_dump(mode="json") for c in self.conditions]
        query: dict[str, Any] = (
            predicates[0] if len(predicates) == 1 else {"and" if self.match == "all" else "or": predicates}
        )
        body: dict[str, Any] = {"query": query}
        if self.sort_attribute is not None:
            body["sort"] = {"attribute": self.sort_attribute, "direction": self.sort_direction}
        page: dict[str, Any] = {"size": self.page_size}
        if self.after is not None:
            page["after"] = self.after
        body["page"] = page
        return body


def search_handler(
    path: str, page: type[PageT], view: type[ObjectView]
) -> Callable[[ToolContext, SearchInput], Awaitable[PageT]]:
    """POST the search body. It only reads, so the handler passes no key of its own; the client still adds
    a fresh Idempotency-Key to every POST (kept across its retries), which is harmless for a read."""

    async def handler(ctx: ToolContext, args: SearchInput) -> PageT:
        response = await ctx.persona.post(path, json=args.search_body())
        return page_result(ctx, page, view, response, after=args.after)

    return handler
