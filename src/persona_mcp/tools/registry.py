"""The catalogue as a value: lookup, toolsets, scopes, coverage, and server-side exposure.

Exposure precedence is written here once (after the grant's scopes, which the policy checks per caller):
read-only mode wins, then exclusions beat inclusions, then explicitly named tools, then toolsets. An
unknown tool or toolset name is a configuration error, never a silent no-op: a typo in a deny list must
not leave the tool exposed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import ObjectKind
from persona_mcp.pii import model_classes
from persona_mcp.tools.results import Rel
from persona_mcp.tools.spec import ToolSpec

AnySpec = ToolSpec[Any, Any]


class UnknownToolError(ValueError):
    """A tool or toolset name that the catalogue does not know; the message lists the valid names."""


class Catalogue:
    """An ordered, name-unique collection of tool specs."""

    def __init__(self, specs: Iterable[AnySpec]) -> None:
        self._specs: tuple[AnySpec, ...] = tuple(specs)
        self._by_name: dict[str, AnySpec] = {}
        for spec in self._specs:
            if spec.name in self._by_name:
                raise ValueError(f"duplicate tool name {spec.name!r} in the catalogue")
            self._by_name[spec.name] = spec

    def __iter__(self) -> Iterator[AnySpec]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self._specs]

    @property
    def toolsets(self) -> list[str]:
        """Toolset names in catalogue order."""
        return list(dict.fromkeys(spec.toolset for spec in self._specs))

    def get(self, name: str) -> AnySpec:
        """The spec called `name`; `UnknownToolError` (naming the valid tools) otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownToolError(_unknown("tool", [name], self.names)) from None

    def in_toolset(self, toolset: str) -> list[AnySpec]:
        if toolset not in self.toolsets:
            raise UnknownToolError(_unknown("toolset", [toolset], self.toolsets))
        return [spec for spec in self._specs if spec.toolset == toolset]

    def by_scope(self) -> dict[Scope, list[AnySpec]]:
        """Which tools each scope opens (scopes in vocabulary order; scopes opening nothing omitted)."""
        grouped: dict[Scope, list[AnySpec]] = {}
        for scope in Scope:
            specs = [spec for spec in self._specs if spec.scope is scope]
            if specs:
                grouped[scope] = specs
        return grouped

    def covered_operations(self) -> dict[str, list[str]]:
        """Upstream operation id -> names of the tools that reach it."""
        covered: dict[str, list[str]] = {}
        for spec in self._specs:
            for operation in spec.operations:
                covered.setdefault(operation, []).append(spec.name)
        return covered

    def lister_for(self, kind: ObjectKind) -> str | None:
        """The name of the tool that pages through objects of `kind` (its `list_*` tool), if any."""
        finders = self.finders_for(kind)
        listers = [name for name in finders if name.startswith("list_")]
        candidates = listers or finders
        return candidates[0] if candidates else None

    def finders_for(self, kind: ObjectKind) -> list[str]:
        """Names of every tool that finds objects of `kind` (list and search tools)."""
        return [spec.name for spec in self._specs if spec.finds is kind]

    def returners_for(self, kind: ObjectKind) -> list[str]:
        """Tools whose results give ids of `kind`, for telling an agent where to get one.

        Its finders (list and search tools) when it has any; otherwise every tool whose result names
        such objects as a relationship (`get_inquiry`'s `inquiry_template_id`, `get_list`'s `item_ids`).
        Both are read from the declarations (`finds`, the output models' `Rel` fields), so a new tool
        is offered as soon as it is declared.
        """
        return self.finders_for(kind) or [
            spec.name for spec in self._specs if kind in _related_kinds(spec.output_model)
        ]

    def select(
        self,
        toolsets: set[str] | None = None,
        tools: set[str] | None = None,
        exclude: set[str] | None = None,
        read_only: bool = False,
    ) -> list[AnySpec]:
        """The tools this server exposes, in catalogue order.

        `toolsets=None` and `tools=None` mean everything; naming either restricts exposure to the union
        of the named toolsets and the named tools. `exclude` removes tools whatever else names them, and
        `read_only` removes every tool that changes Persona.
        """
        self._check_names(toolsets or set(), tools or set(), exclude or set())
        everything = toolsets is None and tools is None
        chosen: list[AnySpec] = []
        for spec in self._specs:
            if read_only and spec.is_write:
                continue
            if exclude and spec.name in exclude:
                continue
            if not everything and not (
                (tools is not None and spec.name in tools)
                or (toolsets is not None and spec.toolset in toolsets)
            ):
                continue
            chosen.append(spec)
        return chosen

    def _check_names(self, toolsets: set[str], tools: set[str], exclude: set[str]) -> None:
        unknown_toolsets = sorted(toolsets - set(self.toolsets))
        if unknown_toolsets:
            raise UnknownToolError(_unknown("toolset", unknown_toolsets, self.toolsets))
        unknown_tools = sorted((tools | exclude) - set(self._by_name))
        if unknown_tools:
            raise UnknownToolError(_unknown("tool", unknown_tools, self.names))


def _kind_of_relationship(name: str) -> ObjectKind | None:
    """`list-items` -> list item, `account-type` -> account type; None for other relationships."""
    singular = f"{name[:-3]}y" if name.endswith("ies") else name.removesuffix("s")
    try:
        return ObjectKind(singular)
    except ValueError:
        return None


def _related_kinds(model: type[BaseModel]) -> frozenset[ObjectKind]:
    """Kinds of the objects `model` (or a result model inside it, such as a page's items) relates to."""
    kinds: set[ObjectKind] = set()
    for field in model.model_fields.values():
        for marker in field.metadata:
            if isinstance(marker, Rel) and (kind := _kind_of_relationship(marker.name)) is not None:
                kinds.add(kind)
        for nested in model_classes(field.annotation):
            kinds |= _related_kinds(nested)
    return frozenset(kinds)


def _unknown(what: str, names: Sequence[str], valid: Sequence[str]) -> str:
    shown = ", ".join(repr(name[:64]) for name in names)
    plural = "s" if len(names) > 1 else ""
    return f"unknown {what}{plural} {shown}; valid {what}s: {', '.join(valid)}"
