"""Tag arguments shared by accounts and inquiries (`add-tag`, `remove-tag`, `set-tags`).

Persona takes a tag by name or by id, never both; the choice is a plain argument pair (a flat object an
agent can read) with an `ExactlyOne` rule, which the schema states as `oneOf` and validation enforces.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from persona_mcp.tools.input_rules import ExactlyOne
from persona_mcp.tools.inputs import TagId, TagName, ToolInput


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
