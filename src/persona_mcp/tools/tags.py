"""Tag arguments shared by accounts and inquiries (`add-tag`, `remove-tag`, `set-tags`).

Persona takes a tag by name or by id, never both; the choice is a plain argument pair checked by a
validator rather than a schema union, so the tool schema stays a flat object an agent can read.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from persona_mcp.tools.inputs import TagId, TagName, ToolInput


class OneTag(ToolInput):
    """Exactly one of `tag_name` / `tag_id`."""

    tag_name: TagName | None = Field(None, description="Tag name, e.g. vip (or tag_id).")
    tag_id: TagId | None = Field(None, description="Tag id, tag_... (or tag_name).")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.tag_name is None) == (self.tag_id is None):
            raise ValueError("give exactly one of tag_name or tag_id")
        return self

    def tag_meta(self) -> dict[str, Any]:
        return {"tag-name": self.tag_name} if self.tag_name is not None else {"tag-id": self.tag_id}


class TagSet(ToolInput):
    """Exactly one of `tag_names` / `tag_ids`: the complete new set of tags."""

    tag_names: list[TagName] | None = Field(
        None, max_length=100, description="All tags, by name ([] clears)."
    )
    tag_ids: list[TagId] | None = Field(None, max_length=100, description="All tags, by id (tag_...).")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.tag_names is None) == (self.tag_ids is None):
            raise ValueError("give exactly one of tag_names or tag_ids")
        return self

    def tag_meta(self) -> dict[str, Any]:
        return {"tag-name": self.tag_names} if self.tag_names is not None else {"tag-id": self.tag_ids}


def one_tag_body(args: OneTag) -> dict[str, Any]:
    return {"meta": args.tag_meta()}


def tag_set_body(args: TagSet) -> dict[str, Any]:
    return {"meta": args.tag_meta()}
