"""Flattened tool results: Persona's JSON:API resources turned into plain, described models.

A view model (subclass of `ObjectView`) declares its fields once; where each value comes from is read
from the field itself: `id` and `type` from the resource, a field annotated with `Rel("name")` from
the relationship of that name (a list field gets every related id, a scalar the first), a field with
`Attr("name")` from that attribute, and any other field from the attribute whose name is the field's
name in kebab-case. So adding an output field is one line, and no handler walks JSON:API by hand.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    create_model,
    model_serializer,
)

from persona_mcp.persona.envelope import Document, Resource
from persona_mcp.persona.errors import UnexpectedResponseError

ModelT = TypeVar("ModelT", bound=BaseModel)


def from_upstream(
    model: type[ModelT],
    values: Mapping[str, Any],
    *,
    status: int | None = None,
    request_id: str | None = None,
) -> ModelT:
    """Validate values taken from Persona's answer into a result model.

    A mismatch means Persona answered in a shape we did not expect, not that the caller erred. pydantic's
    error text repeats the offending values (personal data, possibly), so it is replaced by our own words
    and dropped from the chain (`from None`) before anything can log it.
    """
    try:
        return model.model_validate(values)
    except ValidationError:
        raise UnexpectedResponseError(
            f"Persona's answer does not fit the {model.__name__} result", status=status, request_id=request_id
        ) from None


@dataclass(frozen=True, slots=True)
class Attr:
    """Take the field from `attributes[name]`, optionally through `convert`."""

    name: str
    convert: Callable[[Any], Any] | None = None


@dataclass(frozen=True, slots=True)
class Rel:
    """Take the field from the ids of relationship `name`."""

    name: str


@dataclass(frozen=True, slots=True)
class Meta:
    """Take the field from the response document's top-level `meta[name]`."""

    name: str


def kebab(name: str) -> str:
    """`reference_id` -> `reference-id`: Persona's attribute spelling."""
    return name.replace("_", "-")


def plain_fields(value: Any) -> Any:
    """Persona's typed custom fields (`{"name": {"type": "hash", "value": {...}}}`) as plain values."""
    # Exact-type checks first: this walks every custom field of every result, and `isinstance` against
    # the `Mapping` ABC costs several times a plain type test.
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict or isinstance(value, Mapping):
        if "type" in value and (len(value) == 1 or (len(value) == 2 and "value" in value)):
            return plain_fields(value.get("value"))
        return {str(k): plain_fields(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_fields(v) for v in value]
    return value


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) is list:
        return True
    return any(_is_list(arg) for arg in typing.get_args(annotation) if arg is not type(None))


_Source = Attr | Rel | Meta | str


@functools.cache
def _sources(view: type[BaseModel]) -> tuple[tuple[str, _Source, bool], ...]:
    """Where each field of `view` comes from (an attribute's kebab name when undeclared) and whether it
    is a list: read from the field metadata once per class, not on every flattened resource."""
    plan: list[tuple[str, _Source, bool]] = []
    for name, field in view.model_fields.items():
        if name in ("id", "type"):
            continue
        declared = next((m for m in field.metadata if isinstance(m, Attr | Rel | Meta)), None)
        plan.append((name, declared if declared is not None else kebab(name), _is_list(field.annotation)))
    return tuple(plan)


#: A timestamp as Persona gives it (`created_at: Instant = None`).
Instant = Annotated[str | None, Field(description="ISO 8601.")]


class ResultModel(BaseModel):
    """Base of every output model: strict, and without empty values when serialised.

    Leaving out None keeps results short for the model reading them, and lets the output schemas
    describe each field by its real type (see `mcp_schema.compact`). Built when first needed, like
    `ToolInput`.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    # No return annotation on purpose: pydantic then keeps the model's own serialisation schema
    # (an annotated `dict[str, Any]` would turn every output schema into a bare object).
    @model_serializer(mode="wrap")
    def _drop_none(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None}


class ObjectView(ResultModel):
    """A Persona object, flattened."""

    id: str = Field(description="Id.")
    type: str = Field(description="Persona type.")

    @classmethod
    def source_values(cls, resource: Resource, document: Document | None = None) -> dict[str, Any]:
        """The field values this view takes from `resource` (and the document's `meta`)."""
        values: dict[str, Any] = {"id": resource.id, "type": resource.type}
        attributes = resource.attributes
        for name, source, is_list in _sources(cls):
            value: Any
            if isinstance(source, Rel):
                ids = resource.related_ids(source.name)
                value = ids if is_list else (ids[0] if ids else None)
            elif isinstance(source, Meta):
                value = document.meta.get(source.name) if document is not None else None
            elif isinstance(source, Attr):
                value = attributes.get(source.name)
                if source.convert is not None and value is not None:
                    value = source.convert(value)
            else:
                value = attributes.get(source)
            values[name] = [] if (value is None and is_list) else value
        return values

    @classmethod
    def from_resource(
        cls,
        resource: Resource,
        document: Document | None = None,
        *,
        status: int | None = None,
        request_id: str | None = None,
    ) -> Self:
        """The view of one resource; `status` and `request_id` only label a shape error."""
        values = cls.source_values(resource, document)
        return from_upstream(cls, values, status=status, request_id=request_id)


class WithRest(ObjectView):
    """A view whose field `rest` holds every attribute the view does not name (`named`), as Persona
    gives it: what a report found, what a verification captured."""

    rest: ClassVar[str]
    named: ClassVar[frozenset[str]]

    @classmethod
    def source_values(cls, resource: Resource, document: Document | None = None) -> dict[str, Any]:
        values = super().source_values(resource, document)
        values[cls.rest] = {k: v for k, v in resource.attributes.items() if k not in cls.named}
        return values


class Response(ResultModel):
    """Fields every tool result carries."""

    request_id: str | None = Field(None, description="Persona request id.")


class Page(Response):
    """Fields every page of results carries. Subclasses add `items: list[<view>]` (`page_of`)."""

    next_cursor: str | None = Field(None, description="`after` for the next page; absent at the end.")


@functools.cache
def page_of(view: type[ObjectView]) -> type[Page]:
    """The page of `view`s a list or search tool returns (one model per view, made once)."""
    items: Any = (list[view], Field(description="On this page, newest first."))  # type: ignore[valid-type]
    return create_model(f"{view.__name__}Page", __base__=Page, __module__=view.__module__, items=items)


ViewT = TypeVar("ViewT", bound=ObjectView)


def single(
    result: type[ViewT],
    resource: Resource,
    document: Document,
    request_id: str | None,
    *,
    status: int | None = None,
) -> ViewT:
    """A one-object result: the view's fields plus `request_id` (the result class inherits both)."""
    values = result.source_values(resource, document)
    if "request_id" in result.model_fields:
        values["request_id"] = request_id
    return from_upstream(result, values, status=status, request_id=request_id)


class OneTimeLink(ResultModel):
    """The one-time link Persona issues with an inquiry or a session (in the document's `meta`)."""

    one_time_link: Annotated[str | None, Meta("one-time-link")] = Field(
        None, description="Single-use link to the hosted flow."
    )
    one_time_link_short: Annotated[str | None, Meta("one-time-link-short")] = Field(
        None, description="Short form of the link."
    )
