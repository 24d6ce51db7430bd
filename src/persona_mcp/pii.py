"""The PII and SAFE markers: what a model declares about its fields' personal content.

A field is personal data when its model says so::

    email: Annotated[str | None, PII] = Field(None, description="...")

`transform_pii` walks a model class and a matching plain-data value (the JSON-able dict of an input
or output) and replaces every marked value through a function: masking passes a constant. Free-form
mappings marked PII (custom `fields`, event payloads) have every leaf value replaced.

Signed file URLs are masked wherever they appear, marked or not: Persona hands out document, selfie and
print-out links (`https://files.withpersona.com/...?access_token=...`) that open the image without an API
key for hours, so such a link is the personal data itself. They sit inside PII-marked payloads and
fields today; `mask` also replaces any string that is one (`SIGNED_FILE_URL`), so a field added later
without its marker cannot let one through to a caller without `pii:read`.

The audit log works the other way round, because a free-text argument can hold personal data whatever
its name (an e-mail inside a redirect URI, a name as a tag): every string argument is digested unless its
type declares it safe. `SafeMarker` is that declaration, given by a type whose values cannot carry free
text: a Persona object id (`OBJECT_ID`, carried by the id types themselves) or a value with a fixed
pattern (`FIXED_PATTERN`: dates, country codes, schema attribute names). Literal and Enum types are safe
by their type: their values are written in the model, not chosen by the caller. `argument_plan` reads a
model's declarations once into a `Node` tree that redaction and object-id indexing walk.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from collections import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel

MASK = "[masked: needs pii:read]"

#: A Persona file link: signed (`files.withpersona.com`, API 2023-01-05 on) or the older API-key form.
SIGNED_FILE_URL = re.compile(
    r"https?://(?:[a-z0-9-]+\.)*(?:files\.withpersona\.com/|withpersona\.com/api/v1/files/)", re.I
)


@dataclass(frozen=True, slots=True)
class PiiMarker:
    """Marks a model field as personal data (`Annotated[T, PII]`)."""

    kind: str = "personal"


PII = PiiMarker()


@dataclass(frozen=True, slots=True)
class SafeMarker:
    """Marks a type whose values cannot carry personal data, so the audit log keeps them in clear.

    Put it on a type whose validation leaves no room for free text, never on a free-text field: a
    catalogue test checks that every safe argument has an enum, a pattern or a date format in its schema.
    """

    reason: Literal["object id", "fixed pattern"]


#: A Persona object id: not personal data, and what a reviewer searches the log by (`--object`).
OBJECT_ID = SafeMarker("object id")
#: A value whose declared pattern names a thing, never a person: a date, a country code, an attribute.
FIXED_PATTERN = SafeMarker("fixed pattern")


def is_pii(field_metadata: list[Any]) -> bool:
    """True when a pydantic field's metadata carries the PII marker."""
    return any(isinstance(item, PiiMarker) for item in field_metadata)


def model_classes(annotation: Any) -> list[type[BaseModel]]:
    """The BaseModel classes reachable in an annotation (Optional, list, dict values, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(model_classes(arg))
    return found


def _replace_leaves(value: Any, replace: Callable[[Any], Any]) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {k: _replace_leaves(v, replace) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_replace_leaves(v, replace) for v in value]
    return replace(value)


@dataclass(frozen=True, slots=True)
class _FieldPlan:
    """What `transform_pii` does with one field: its keys, and either PII or the nested model."""

    keys: tuple[str, ...]
    pii: bool
    nested: type[BaseModel] | None


@functools.cache
def _plan(model: type[BaseModel]) -> tuple[_FieldPlan, ...]:
    """The per-model walk, worked out once: models are classes, fixed for the life of the process."""
    plans: list[_FieldPlan] = []
    for name, field in model.model_fields.items():
        keys = tuple(dict.fromkeys(k for k in (name, field.alias, field.serialization_alias) if k))
        pii = is_pii(field.metadata)
        nested = None if pii else next(iter(model_classes(field.annotation)), None)
        if pii or nested is not None:
            plans.append(_FieldPlan(keys, pii, nested))
    return tuple(plans)


def transform_pii(model: type[BaseModel], data: Any, replace: Callable[[Any], Any]) -> tuple[Any, bool]:
    """Return `data` with every PII-marked value replaced, and whether anything was replaced.

    `data` is what `model.model_dump(mode="json")` would produce (or raw tool arguments); keys that the
    model does not know are kept as they are unless the model is marked PII as a whole.
    """
    if not isinstance(data, Mapping):
        return data, False
    changed = False
    out: dict[str, Any] = dict(data)
    for plan in _plan(model):
        for key in plan.keys:
            value = out.get(key)
            if value is None:
                continue
            if plan.pii:
                out[key] = _replace_leaves(value, replace)
                changed = True
                continue
            sub = plan.nested
            if sub is None:
                continue
            if isinstance(value, list):
                items = [transform_pii(sub, item, replace) for item in value]
                out[key] = [item for item, _ in items]
                changed = changed or any(c for _, c in items)
            else:
                out[key], sub_changed = transform_pii(sub, value, replace)
                changed = changed or sub_changed
    return out, changed


def mask(model: type[BaseModel], data: Any) -> tuple[Any, bool]:
    """Mask personal values for callers without `pii:read`: marked fields, and signed file URLs anywhere."""
    masked, changed = transform_pii(model, data, lambda _value: MASK)
    masked, links = _mask_file_urls(masked)
    return masked, changed or links


def _mask_file_urls(value: Any) -> tuple[Any, bool]:
    """`value` with every string that contains a Persona file link replaced by `MASK`."""
    kind = type(value)
    if kind is str:
        return (MASK, True) if SIGNED_FILE_URL.search(value) else (value, False)
    if kind is dict:
        changed = False
        out: dict[Any, Any] = {}
        for key, item in value.items():
            out[key], item_changed = _mask_file_urls(item)
            changed = changed or item_changed
        return (out, True) if changed else (value, False)
    if kind is list:
        items = [_mask_file_urls(item) for item in value]
        if any(item_changed for _, item_changed in items):
            return [item for item, _ in items], True
        return value, False
    return value, False


def pii_field_names(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted paths of every PII field, for docs and tests."""
    names: list[str] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        if is_pii(field.metadata):
            names.append(path)
            continue
        for sub in model_classes(field.annotation):
            names.extend(pii_field_names(sub, f"{path}."))
    return names


# -- the argument plan: how the audit log treats each part of a tool's arguments ---------------------------


class Handling(Enum):
    """What the audit log does with a value, most protective first."""

    PERSONAL = "personal"  # marked PII: every value digested, numbers included
    FREE = "free"  # not declared safe: every string digested (numbers and booleans kept)
    SAFE = "safe"  # declared safe (enum, fixed pattern): kept in clear
    OBJECT_ID = "object id"  # a Persona id: kept in clear and indexed for `--object`


@dataclass(frozen=True, slots=True)
class Leaf:
    """A value handled as a whole, whatever its shape (a FREE map has its keys digested too)."""

    handling: Handling


@dataclass(frozen=True, slots=True)
class Nested:
    """An object whose fields the model declares: walked with that model's own plan."""

    model: type[BaseModel]


@dataclass(frozen=True, slots=True)
class Items:
    """A list whose items are all handled by `item`."""

    item: Node


@dataclass(frozen=True, slots=True)
class Entries:
    """A map: keys handled by `key` (digested unless the key type is declared safe), values by `value`."""

    key: Handling
    value: Node


Node = Leaf | Nested | Items | Entries

_SCALARS_FREE = Leaf(Handling.FREE)
_UNION_TYPES: tuple[Any, ...] = (Union, types.UnionType)
_SEQUENCES: tuple[Any, ...] = (list, tuple, set, frozenset, abc.Sequence, abc.MutableSequence, abc.Set)
_MAPPINGS: tuple[Any, ...] = (dict, abc.Mapping, abc.MutableMapping)


def _safe_leaf(marker: SafeMarker) -> Leaf:
    return Leaf(Handling.OBJECT_ID if marker.reason == "object id" else Handling.SAFE)


def _strictest(nodes: list[Node], personal: bool) -> Node:
    """One node for a union: the members' own when they agree, else the most protective leaf."""
    distinct = list(dict.fromkeys(nodes))
    if len(distinct) == 1:
        return distinct[0]
    if all(isinstance(node, Leaf) for node in distinct):
        order = list(Handling)
        return min(distinct, key=lambda node: order.index(node.handling))  # type: ignore[union-attr]
    return Leaf(Handling.PERSONAL if personal else Handling.FREE)


def _node(annotation: Any, personal: bool) -> Node:
    """The plan for one annotation. Only declarations count: a marker, a Literal, an Enum, a model."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *metadata = typing.get_args(annotation)
        personal = personal or is_pii(metadata)
        marker = next((m for m in metadata if isinstance(m, SafeMarker)), None)
        if marker is not None and not personal:
            return _safe_leaf(marker)
        return _node(base, personal)
    if origin in _UNION_TYPES:
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _strictest([_node(arg, personal) for arg in members], personal)
    if personal:
        return Leaf(Handling.PERSONAL)
    if origin is Literal or (isinstance(annotation, type) and issubclass(annotation, Enum)):
        return Leaf(Handling.SAFE)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return Nested(annotation)
    if origin in _SEQUENCES:
        args = [arg for arg in typing.get_args(annotation) if arg is not Ellipsis]
        return Items(_strictest([_node(arg, personal) for arg in args], personal) if args else _SCALARS_FREE)
    if origin in _MAPPINGS:
        key, value = typing.get_args(annotation) or (str, Any)
        key_node = _node(key, personal)
        key_handling = key_node.handling if isinstance(key_node, Leaf) else Handling.FREE
        return Entries(key_handling, _node(value, personal))
    return _SCALARS_FREE


def field_node(field: Any) -> Node:
    """The plan for one pydantic field (`FieldInfo`): its top-level markers sit in `field.metadata`."""
    personal = is_pii(field.metadata)
    marker = next((m for m in field.metadata if isinstance(m, SafeMarker)), None)
    if marker is not None and not personal:
        return _safe_leaf(marker)
    return _node(field.annotation, personal)


@functools.cache
def argument_plan(model: type[BaseModel]) -> Mapping[str, Node]:
    """Every key the model accepts (names and aliases) -> its node, worked out once per model class."""
    plan: dict[str, Node] = {}
    for name, field in model.model_fields.items():
        node = field_node(field)
        for key in (name, field.alias, field.serialization_alias, field.validation_alias):
            if isinstance(key, str):
                plan[key] = node
    return types.MappingProxyType(plan)


@functools.cache
def declared_keys(model: type[BaseModel]) -> frozenset[str]:
    """Every key declared anywhere in the model's tree: the argument names a record may keep in clear."""
    keys: set[str] = set()
    pending, seen = [model], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for key, node in argument_plan(current).items():
            keys.add(key)
            pending.extend(_models_in(node))
    return frozenset(keys)


def _models_in(node: Node) -> list[type[BaseModel]]:
    if isinstance(node, Nested):
        return [node.model]
    if isinstance(node, Items):
        return _models_in(node.item)
    if isinstance(node, Entries):
        return _models_in(node.value)
    return []


def safe_field_names(model: type[BaseModel], prefix: str = "") -> dict[str, Handling]:
    """Dotted paths of the fields the audit log keeps in clear, with why (for docs and tests)."""
    names: dict[str, Handling] = {}
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        node = field_node(field)
        while isinstance(node, Items):
            node = node.item
        if isinstance(node, Leaf) and node.handling in (Handling.SAFE, Handling.OBJECT_ID):
            names[path] = node.handling
        for sub in _models_in(node):
            names.update(safe_field_names(sub, f"{path}."))
    return names


__all__ = [
    "FIXED_PATTERN",
    "MASK",
    "OBJECT_ID",
    "PII",
    "SIGNED_FILE_URL",
    "Entries",
    "Handling",
    "Items",
    "Leaf",
    "Nested",
    "Node",
    "PiiMarker",
    "SafeMarker",
    "argument_plan",
    "declared_keys",
    "field_node",
    "is_pii",
    "mask",
    "model_classes",
    "pii_field_names",
    "safe_field_names",
    "transform_pii",
]
