"""Tag arguments shared by every family with tags (`add-tag`, `remove-tag`, `set-tags`).

Persona takes a tag by name or by id, never both; the choice is a plain argument pair (a flat object an
agent can read) with an `ExactlyOne` rule, which the schema states as `oneOf` and validation enforces.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import Field

from persona_mcp.tools.factories import Method, ResultT, one_result, path_for, send
from persona_mcp.tools.input_rules import ExactlyOne, OneItemFor
from persona_mcp.tools.inputs import TagId, TagName, ToolInput
from persona_mcp.tools.spec import ToolContext


class OneTag(ToolInput):
    """Exactly one of `tag_name` / `tag_id`."""

    tag_name: TagName | None = Field(None, description="Tag name, e.g. vip (or tag_id).")
    tag_id: TagId | None = Field(None, description="Tag id, tag_... (or tag_name).")

    rules = (ExactlyOne("tag_name", "tag_id"),)

    def tag_meta(self) -> dict[str, Any]:
        return {"tag-name": self.tag_name} if self.tag_name is not None else {"tag-id": self.tag_id}


class TagSet(ToolInput):
    """Exactly one of `tag_names` / `tag_ids`: the complete new set of tags."""

    tag_names: list[TagName] | None = Field(
        None, max_length=100, description="All tags, by name ([] clears)."
    )
    tag_ids: list[TagId] | None = Field(None, max_length=100, description="All tags, by id (tag_...).")

    rules = (ExactlyOne("tag_names", "tag_ids"),)

    def tag_meta(self) -> dict[str, Any]:
        return {"tag-name": self.tag_names} if self.tag_names is not None else {"tag-id": self.tag_ids}


def one_tag_body(args: OneTag) -> dict[str, Any]:
    return {"meta": args.tag_meta()}


def tag_set_body(args: TagSet) -> dict[str, Any]:
    return {"meta": args.tag_meta()}


class TagChange(ToolInput):
    """One tool for a family's three tag operations: add or remove one tag, or set them all."""

    mode: Literal["add", "remove", "set"] = Field(description="add/remove one tag, or set all.")
    tag_names: list[TagName] = Field(
        max_length=100, description="add/remove: one name; set: all ([] clears)."
    )

    rules = (OneItemFor("tag_names", "mode", ("add", "remove")),)

    def request(self) -> tuple[str, dict[str, Any]]:
        """The action path segment and its body."""
        if self.mode == "set":
            return "set-tags", {"meta": {"tag-name": list(self.tag_names)}}
        return f"{self.mode}-tag", {"meta": {"tag-name": self.tag_names[0]}}


def tag_change_handler(
    template: str, result: type[ResultT]
) -> Callable[[ToolContext, Any], Awaitable[ResultT]]:
    """POST `<template>/<add-tag|remove-tag|set-tags>` as the mode says, and return the object."""

    async def handler(ctx: ToolContext, args: Any) -> ResultT:
        action, body = args.request()
        response = await send(ctx, Method.POST, path_for(f"{template}/{action}", args), body)
        return one_result(ctx, result, response)

    return handler
