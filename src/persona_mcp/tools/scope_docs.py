"""The scope reference in docs/access.md, generated from the scope vocabulary and the tool catalogue.

`render_scopes_markdown(catalogue)` is the text between `<!-- scopes:start -->` and `<!-- scopes:end -->`;
`persona-mcp docs generate` writes it and a test fails when the document is stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from persona_mcp.auth.scopes import Scope
from persona_mcp.toolsets import TOOLSETS, Toolset

START = "<!-- scopes:start -->"
END = "<!-- scopes:end -->"

#: Scopes that change results rather than open tools.
_RESULT_SCOPES = {
    Scope.PII_READ: "no tool of its own: personal data in results is shown unmasked, and tools whose "
    "result cannot be masked (marked ¹) need it as well",
    Scope.AUDIT_ALL_ENVIRONMENTS: "no tool of its own: widens `query_audit_log` from the grant's environment "
    "to every record",
    Scope.APPROVALS_DECIDE: "no tool of its own: a person holding it approves or rejects other principals' "
    "held calls (`persona-mcp approvals`)",
}


_COLUMNS = (
    "Scope",
    "Allows",
    "Toolsets",
    "Implied by",
    "Default grant",
    "Tools it opens",
    "Persona key permissions",
)


class _Spec(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def scope(self) -> Scope: ...

    @property
    def unmaskable(self) -> bool: ...


def render_scopes_markdown(catalogue: Iterable[_Spec], toolsets: Sequence[Toolset] = TOOLSETS) -> str:
    """One table row per scope, read from its declaration: what it allows, the toolsets of its family,
    what implies it, whether the default grant holds it, the tools it opens, the Persona permissions."""
    specs = list(catalogue)
    lines = [f"| {' | '.join(_COLUMNS)} |", "|---" * len(_COLUMNS) + "|"]
    for scope in Scope:
        implied_by = sorted(held.value for held in Scope if scope in held.implies)
        of_family = ", ".join(f"`{t.id}`" for t in toolsets if t.scope_family == scope.family) or "-"
        tools = [spec for spec in specs if spec.scope is scope]
        opened = ", ".join(
            f"`{t.name}`" + ("¹" if t.unmaskable else "") for t in tools
        ) or _RESULT_SCOPES.get(scope, "none yet")
        permissions = ", ".join(f"`{p}`" for p in sorted(scope.persona_permissions)) or "none"
        lines.append(
            f"| `{scope.value}` | {scope.description} | {of_family} | "
            f"{', '.join(f'`{s}`' for s in implied_by) or '-'} | "
            f"{'yes' if scope.read_only_default else '-'} | {opened} | {permissions} |"
        )
    return "\n".join(lines) + "\n"


def replace_section(document: str, section: str) -> str:
    """`document` with the text between the scope markers replaced by `section`."""
    try:
        head, rest = document.split(START, 1)
        _old, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"the document lacks the {START} ... {END} markers") from None
    return f"{head}{START}\n{section}{END}{tail}"


def section_of(document: str) -> str:
    """The text currently between the scope markers."""
    return document.split(START, 1)[1].split(END, 1)[0].removeprefix("\n")
