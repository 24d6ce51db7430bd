"""The catalogue as a value: lookup, toolsets, scopes, coverage, and server-side exposure.

Exposure precedence is written here once (after the grant's scopes, which the policy checks per caller):
read-only mode wins, then exclusions beat inclusions, then explicitly named tools, then toolsets; when
neither tools nor toolsets are named, the default toolsets (`persona_mcp.toolsets`). An unknown tool or
toolset name is a configuration error, never a silent no-op: a typo in a deny list must not leave the
tool exposed. A tool whose toolset is not declared is an error when the catalogue is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel

from persona_mcp import toolsets as declared
from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import ObjectKind
from persona_mcp.pii import model_classes
from persona_mcp.tools.results import Rel
from persona_mcp.tools.spec import ToolSpec
from persona_mcp.toolsets import Toolset

AnySpec = ToolSpec[Any, Any]


class UnknownToolError(ValueError):
    """A tool or toolset name that the catalogue does not know; the message lists the valid names."""


class Catalogue:
    """An ordered, name-unique collection of tool specs."""

    def __init__(self, specs: Iterable[AnySpec], toolsets: Sequence[Toolset] = declared.TOOLSETS) -> None:
        self._specs: tuple[AnySpec, ...] = tuple(specs)
        self._toolsets: dict[str, Toolset] = {toolset.id: toolset for toolset in toolsets}
        self._by_name: dict[str, AnySpec] = {}
        for spec in self._specs:
            if spec.name in self._by_name:
                raise ValueError(f"duplicate tool name {spec.name!r} in the catalogue")
            if spec.toolset not in self._toolsets:
                raise ValueError(
                    f"tool {spec.name!r} names the undeclared toolset {spec.toolset!r}; declare it in "
                    f"persona_mcp/toolsets.py (declared: {', '.join(self._toolsets)})"
                )
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
        """Ids of the declared toolsets that hold tools, in declaration order."""
        held = {spec.toolset for spec in self._specs}
        return [toolset_id for toolset_id in self._toolsets if toolset_id in held]

    @property
    def declared_toolsets(self) -> list[Toolset]:
        """Every declared toolset, in declaration order (some may hold no tools in this build)."""
        return list(self._toolsets.values())

    @property
    def default_toolsets(self) -> frozenset[str]:
        """Ids of the toolsets a server offers when none are named."""
        return frozenset(toolset.id for toolset in self._toolsets.values() if toolset.default)

    def toolset(self, toolset_id: str) -> Toolset:
        """The declaration of `toolset_id`; `UnknownToolError` (naming the valid ids) otherwise."""
        try:
            return self._toolsets[toolset_id]
        except KeyError:
            raise UnknownToolError(_unknown("toolset", [toolset_id], list(self._toolsets))) from None

    def get(self, name: str) -> AnySpec:
        """The spec called `name`; `UnknownToolError` (naming the valid tools) otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownToolError(_unknown("tool", [name], self.names)) from None

    def in_toolset(self, toolset: str) -> list[AnySpec]:
        self.toolset(toolset)
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

        `toolsets=None` and `tools=None` mean the default toolsets; naming either restricts exposure to
        the union of the named toolsets (`all` and `default` included) and the named tools. `exclude`
        removes tools whatever else names them, and `read_only` removes every tool that changes Persona.
        """
        self._check_names(tools or set(), exclude or set())
        if toolsets is None and tools is None:
            opened = self.default_toolsets
        else:
            opened = self.resolve_toolsets(toolsets or set())
        named = tools or set()
        chosen: list[AnySpec] = []
        for spec in self._specs:
            if read_only and spec.is_write:
                continue
            if exclude and spec.name in exclude:
                continue
            if spec.name in named or spec.toolset in opened:
                chosen.append(spec)
        return chosen

    def resolve_toolsets(self, names: Iterable[str]) -> frozenset[str]:
        """Toolset ids named by `names` (`all` and `default` expanded); unknown names are refused."""
        keywords = {declared.ALL: frozenset(self._toolsets), declared.DEFAULT: self.default_toolsets}
        chosen: set[str] = set()
        unknown: list[str] = []
        for name in names:
            if name in keywords:
                chosen |= keywords[name]
            elif name in self._toolsets:
                chosen.add(name)
            else:
                unknown.append(name)
        if unknown:
            raise UnknownToolError(_unknown("toolset", sorted(unknown), [*keywords, *self._toolsets]))
        return frozenset(chosen)

    def _check_names(self, tools: set[str], exclude: set[str]) -> None:
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


def build_models(specs: Iterable[AnySpec]) -> None:
    """Build the validators and serializers of these tools' models and of every model inside them.

    Tool models defer their build (`ToolInput`, `ResultModel`), so the families a server does not expose
    cost it no memory; the server builds the ones it exposes as it starts, so that no call pays for it.
    """
    pending: list[type[BaseModel]] = [
        model for spec in specs for model in (spec.input_model, spec.output_model)
    ]
    seen: set[type[BaseModel]] = set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        if not model.__pydantic_complete__:
            model.model_rebuild()
        for field in model.model_fields.values():
            pending.extend(model_classes(field.annotation))


def _unknown(what: str, names: Sequence[str], valid: Sequence[str]) -> str:
    shown = ", ".join(repr(name[:64]) for name in names)
    plural = "s" if len(names) > 1 else ""
    return f"unknown {what}{plural} {shown}; valid {what}s: {', '.join(valid)}"
