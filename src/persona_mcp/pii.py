"""The PII marker: one annotation read by result masking and by audit redaction.

A field is personal data when its model says so::

    email: Annotated[str | None, PII] = Field(None, description="...")

`transform_pii` walks a model class and a matching plain-data value (the JSON-able dict of an input
or output) and replaces every marked value through a function: masking passes a constant, the audit
passes a keyed digest. Both read the same marker, so the two can never disagree about what is personal.
Free-form mappings marked PII (custom `fields`) have every leaf value replaced.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

MASK = "[masked: needs pii:read]"


@dataclass(frozen=True, slots=True)
class PiiMarker:
    """Marks a model field as personal data (`Annotated[T, PII]`)."""

    kind: str = "personal"


PII = PiiMarker()


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
    """Mask personal values for callers without `pii:read`."""
    return transform_pii(model, data, lambda _value: MASK)


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


__all__ = ["MASK", "PII", "PiiMarker", "is_pii", "mask", "model_classes", "pii_field_names", "transform_pii"]
