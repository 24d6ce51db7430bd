"""The JSON:API envelope Persona wraps every response in, as small typed models.

Parsing is tolerant on purpose: Persona adds attributes, resource types and top-level members without a
version bump (PROTOCOL.md section 5), so unknown members are kept (`extra="allow"`) rather than rejected.
Only the skeleton the client relies on - `type`/`id` on resources, the shape of `data` - is enforced.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from persona_mcp.persona.errors import UnexpectedResponseError

_TOLERANT = ConfigDict(extra="allow")


class ResourceIdentifier(BaseModel):
    """A `{type, id}` pointer to another resource (a relationship target)."""

    model_config = _TOLERANT

    type: str
    id: str


class Relationship(BaseModel):
    """One named relationship: a single target, a list of targets, or none."""

    model_config = _TOLERANT

    data: ResourceIdentifier | list[ResourceIdentifier] | None = None

    @field_validator("data", mode="before")
    @classmethod
    def _drop_empty_targets(cls, value: Any) -> Any:
        # Persona's documented examples show `"data": {}` where the renderer dropped a null target; a
        # target without type and id identifies nothing, so it is read as absent rather than an error.
        if isinstance(value, dict) and not value:
            return None
        if isinstance(value, list):
            return [item for item in value if not (isinstance(item, dict) and not item)]
        return value

    def ids(self) -> list[str]:
        """The target ids, whatever the cardinality."""
        if self.data is None:
            return []
        if isinstance(self.data, list):
            return [target.id for target in self.data]
        return [self.data.id]


#: Types Persona sends without an id.
IDLESS_TYPE_PREFIXES = ("rate-limit/",)


class Resource(BaseModel):
    """A JSON:API resource object. `type` is an open set (`verification/government-id`, ...)."""

    model_config = _TOLERANT

    type: str
    #: Empty only for the resources Persona sends without one (`rate-limit/...` objects, a property of the
    #: API key): any other resource without an id is an unexpected answer.
    id: str = ""
    attributes: dict[str, Any] = Field(default_factory=dict)
    relationships: dict[str, Relationship] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _id_unless_idless(self) -> Resource:
        if not self.id and not self.type.startswith(IDLESS_TYPE_PREFIXES):
            raise ValueError(f"a {self.type} resource without an id")
        return self

    def related_ids(self, name: str) -> list[str]:
        """Ids of the resources related under `name`; empty when the relationship is absent or null."""
        relationship = self.relationships.get(name)
        return relationship.ids() if relationship is not None else []


def _query_value(url: str | None, name: str) -> str | None:
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


class Links(BaseModel):
    """Pagination links of a list response (relative URLs, `null` at either end)."""

    model_config = _TOLERANT

    prev: str | None = None
    next: str | None = None

    def next_cursor(self) -> str | None:
        """The `page[after]` value carried by `links.next`, or None on the last page."""
        return _query_value(self.next, "page[after]")

    def prev_cursor(self) -> str | None:
        """The `page[before]` value carried by `links.prev`, or None on the first page."""
        return _query_value(self.prev, "page[before]")


class Document(BaseModel):
    """A whole response body: primary `data`, `included` side resources, `links` and `meta`."""

    model_config = _TOLERANT

    data: Resource | list[Resource] | None = None
    included: list[Resource] = Field(default_factory=list)
    links: Links = Field(default_factory=Links)
    meta: dict[str, Any] = Field(default_factory=dict)

    def one(self) -> Resource:
        """The single primary resource; a list or null here means the endpoint did not answer as expected."""
        if isinstance(self.data, Resource):
            return self.data
        shape = "a list" if isinstance(self.data, list) else "no data"
        raise UnexpectedResponseError(f"expected a single resource, got {shape}")

    def many(self) -> list[Resource]:
        """The primary resources of a list response (a single resource is returned as a one-item list)."""
        if isinstance(self.data, list):
            return list(self.data)
        if isinstance(self.data, Resource):
            return [self.data]
        return []

    def included_by_id(self, type_: str, id_: str) -> Resource | None:
        """The `included` resource with this type and id, if Persona embedded it."""
        return next((r for r in self.included if r.type == type_ and r.id == id_), None)
