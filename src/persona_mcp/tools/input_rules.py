"""Cross-field argument rules, declared once: each both checks a call and states itself in the schema.

A rule that only a validator knows lets the listed `inputSchema` admit calls the server then refuses,
so an agent cannot get them right first time. Each rule here is one declaration on the input model
(`rules = (...)`): `ToolInput` runs its `check` after field validation and merges its `schema` into
the model's JSON schema. Only keywords that JSON Schema draft-07 and 2020-12 read alike are used
(`if`/`then`/`else`, `anyOf`, `not`, `required`, `minProperties`, `maxProperties`, `const`, `enum`),
since clients validate with either. No union (`oneOf`/`anyOf`/`allOf`) sits at the top level of a
tool's schema, which model APIs (Anthropic's, OpenAI's) refuse: a union of cases goes inside `if`, with
`else: false`. The schema stays terse: the whole catalogue has a size budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class Rule(Protocol):
    def check(self, given: Mapping[str, Any]) -> None:
        """Raise `ValueError` (the message says what to give) when the arguments break the rule."""

    def schema(self, model: dict[str, Any]) -> dict[str, Any]:
        """The rule as JSON Schema keywords for the object schema `model` (already generated)."""


def _present(given: Mapping[str, Any], name: str) -> bool:
    return given.get(name) is not None


def _required(name: str) -> dict[str, Any]:
    return {"required": [name]}


def _one_of_values(values: tuple[str, ...]) -> dict[str, Any]:
    return {"const": values[0]} if len(values) == 1 else {"enum": list(values)}


def _one_case_of(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Arguments must fit one of `cases`: a union kept off the top level (see the module docstring)."""
    return {"if": {"anyOf": cases}, "else": False}


@dataclass(frozen=True)
class ExactlyOne:
    """Exactly one of two alternative arguments (a tag by name or by id, a template or its version)."""

    first: str
    second: str

    def check(self, given: Mapping[str, Any]) -> None:
        if _present(given, self.first) == _present(given, self.second):
            raise ValueError(f"give exactly one of {self.first} or {self.second}")

    def schema(self, model: dict[str, Any]) -> dict[str, Any]:
        required = model.get("required", [])
        if set(model["properties"]) == {*required, self.first, self.second}:
            # The pair are the only optional arguments: "one more than the required ones" says it all.
            return {"minProperties": len(required) + 1, "maxProperties": len(required) + 1}
        return {
            "if": _required(self.first),
            "then": {"not": _required(self.second)},
            "else": _required(self.second),
        }


@dataclass(frozen=True)
class AtLeastOne:
    """At least one of `names` (an update with nothing to change is refused)."""

    names: tuple[str, ...]
    message: str = ""

    def check(self, given: Mapping[str, Any]) -> None:
        if not any(_present(given, name) for name in self.names):
            raise ValueError(self.message or f"give at least one of {', '.join(self.names)}")

    def schema(self, model: dict[str, Any]) -> dict[str, Any]:
        required = model.get("required", [])
        if set(model["properties"]) == set(required) | set(self.names):
            # Every optional argument counts, so "one more than the required ones" says it in one keyword.
            return {"minProperties": len(required) + 1}
        return _one_case_of([_required(name) for name in self.names])


@dataclass(frozen=True)
class OnlyFor:
    """`field` is allowed only when `selector` is one of `values`; with `required`, it is also needed then."""

    field: str
    selector: str
    values: tuple[str, ...]
    required: bool = False

    def check(self, given: Mapping[str, Any]) -> None:
        applies = str(given.get(self.selector)) in self.values
        if _present(given, self.field) and not applies:
            raise ValueError(f"{self.field} applies to {self.selector} {', '.join(self.values)} only")
        if self.required and applies and not _present(given, self.field):
            raise ValueError(f"{self.field} is required for {self.selector} {', '.join(self.values)}")

    def schema(self, model: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "if": {"properties": {self.selector: _one_of_values(self.values)}},
            "else": {"not": _required(self.field)},
        }
        if self.required:
            out["then"] = _required(self.field)
        return out


@dataclass(frozen=True)
class RequiredFor:
    """`field` is required when `selector` is one of `values`, and optional otherwise."""

    field: str
    selector: str
    values: tuple[str, ...]

    def check(self, given: Mapping[str, Any]) -> None:
        if str(given.get(self.selector)) in self.values and not _present(given, self.field):
            raise ValueError(f"{self.field} is required for {self.selector} {', '.join(self.values)}")

    def schema(self, model: dict[str, Any]) -> dict[str, Any]:
        return {
            "if": {"properties": {self.selector: _one_of_values(self.values)}},
            "then": _required(self.field),
        }


@dataclass(frozen=True)
class FieldsBySelector:
    """Each value of `selector` takes exactly its own fields from a group; the rest of the group is absent."""

    selector: str
    fields: Mapping[str, tuple[str, ...]]

    def check(self, given: Mapping[str, Any]) -> None:
        value = str(given.get(self.selector))
        wanted = self.fields[value]
        governed = dict.fromkeys(name for names in self.fields.values() for name in names)
        missing = [name for name in wanted if not _present(given, name)]
        extra = [name for name in governed if name not in wanted and _present(given, name)]
        if missing or extra:
            raise ValueError(
                f"{self.selector} {value} takes exactly: {', '.join(wanted)}"
                + (f" (missing {', '.join(missing)})" if missing else "")
                + (f" (not allowed: {', '.join(extra)})" if extra else "")
            )

    def schema(self, model: dict[str, Any]) -> dict[str, Any]:
        governed = {name for names in self.fields.values() for name in names}
        required = model.get("required", [])
        if set(model["properties"]) != set(required) | governed:
            raise TypeError("FieldsBySelector needs every optional argument to be one of its fields")
        # Values taking the same fields share a branch; with the required arguments and the branch's own
        # fields present, `maxProperties` leaves no room for another field of the group.
        by_fields: dict[tuple[str, ...], tuple[str, ...]] = {}
        for value, names in self.fields.items():
            by_fields[names] = (*by_fields.get(names, ()), value)
        return _one_case_of(
            [
                {
                    "properties": {self.selector: _one_of_values(values)},
                    "required": list(names),
                    "maxProperties": len(required) + len(names),
                }
                for names, values in by_fields.items()
            ]
        )


@dataclass(frozen=True)
class PrefixBySelector:
    """The id in `field` must carry one of the prefixes that the value of `selector` allows."""

    field: str
    selector: str
    prefixes: Mapping[str, tuple[str, ...]]

    def check(self, given: Mapping[str, Any]) -> None:
        value = str(given.get(self.selector))
        allowed = self.prefixes[value]
        if str(given.get(self.field)).split("_", 1)[0] not in allowed:
            expected = " or ".join(f"{prefix}_" for prefix in allowed)
            raise ValueError(f"a {value} {self.field.replace('_', ' ')} starts with {expected}")

    def schema(self, model: dict[str, Any]) -> dict[str, Any]:
        def starts(prefixes: tuple[str, ...]) -> str:
            return f"^{prefixes[0]}_" if len(prefixes) == 1 else f"^({'|'.join(prefixes)})_"

        return _one_case_of(
            [
                {"properties": {self.selector: {"const": value}, self.field: {"pattern": starts(prefixes)}}}
                for value, prefixes in self.prefixes.items()
            ]
        )


def merged(schema: dict[str, Any], rules: tuple[Rule, ...]) -> None:
    """Add each rule's keywords to `schema`. Two rules that need the same keyword would need a top-level
    `allOf`, which model APIs refuse: that is a declaration error, raised when the schema is built."""
    for rule in rules:
        for key, value in rule.schema(schema).items():
            if key in schema:
                raise TypeError(
                    f"two rules both need the top-level {key!r} keyword: merge them into one rule"
                )
            schema[key] = value
