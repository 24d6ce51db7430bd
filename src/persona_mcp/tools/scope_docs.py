"""The scope reference in docs/access.md, generated from the scope vocabulary and the tool catalogue.

`render_scopes_markdown(CATALOGUE)` is the text between `<!-- scopes:start -->` and `<!-- scopes:end -->`;
a test fails when the document is stale. Regenerate with `python -m persona_mcp.tools.scope_docs`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from persona_mcp.auth.scopes import DESCRIPTIONS, IMPLIES, PERSONA_PERMISSIONS, Scope

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


class _Spec(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def scope(self) -> Scope: ...

    @property
    def unmaskable(self) -> bool: ...


def render_scopes_markdown(catalogue: Iterable[_Spec]) -> str:
    """One table row per scope: what it allows, what implies it, the tools it opens, Persona permissions."""
    specs = list(catalogue)
    lines = [
        "| Scope | Allows | Implied by | Tools it opens | Persona key permissions |",
        "|---|---|---|---|---|",
    ]
    for scope in Scope:
        implied_by = sorted(held.value for held, implied in IMPLIES.items() if scope in implied)
        tools = [spec for spec in specs if spec.scope is scope]
        opened = ", ".join(
            f"`{t.name}`" + ("¹" if t.unmaskable else "") for t in tools
        ) or _RESULT_SCOPES.get(scope, "none yet")
        permissions = ", ".join(f"`{p}`" for p in sorted(PERSONA_PERMISSIONS[scope])) or "none"
        lines.append(
            f"| `{scope.value}` | {DESCRIPTIONS[scope]} | "
            f"{', '.join(f'`{s}`' for s in implied_by) or '-'} | {opened} | {permissions} |"
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


def main(argv: list[str] | None = None) -> int:
    """Rewrite the scope table of docs/access.md (or the path given) from the catalogue."""
    from persona_mcp.tools import CATALOGUE

    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path("docs/access.md")
    path.write_text(replace_section(path.read_text(encoding="utf-8"), render_scopes_markdown(CATALOGUE)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
