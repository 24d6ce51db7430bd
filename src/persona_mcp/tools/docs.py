"""`docs/tools.md`, rendered from the catalogue so the documentation cannot drift from the code.

A staleness test compares the committed file with this render; regenerate with
`persona-mcp tools --write-docs` or `PERSONA_MCP_UPDATE_DOCS=1 pytest tests/tools`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from persona_mcp.auth.scopes import DESCRIPTIONS
from persona_mcp.tools.registry import Catalogue
from persona_mcp.tools.spec import ToolSpec


def _scopes(spec: ToolSpec[Any, Any]) -> str:
    # An unmaskable result (a PDF) needs pii:read besides the tool's own scope.
    return f"`{spec.scope.value}` + `pii:read`" if spec.unmaskable else f"`{spec.scope.value}`"


def _hints(spec: ToolSpec[Any, Any]) -> str:
    hints = spec.annotations
    flags = [
        ("read-only", hints.read_only),
        ("destructive", hints.destructive),
        ("idempotent", hints.idempotent),
        ("open-world", hints.open_world),
    ]
    return ", ".join(name for name, on in flags if on) or "-"


def _summary(spec: ToolSpec[Any, Any]) -> str:
    return spec.description.splitlines()[0].replace("|", "\\|")


def _operations(spec: ToolSpec[Any, Any]) -> str:
    if not spec.operations:
        polled = ", ".join(f"`{op}`" for op in spec.polls)
        return f"re-reads {polled}" if polled else "- (this server)"
    if len(spec.operations) > 3:
        family = spec.operations[0].split(".")[0]
        return f"{len(spec.operations)} `{family}.*` operations"
    return ", ".join(f"`{op}`" for op in spec.operations)


#: How a failed call reaches the agent, and why error results carry no structured content.
ERRORS = """## Errors

A call fails in one of two ways.

- **Tool error** (a result with `isError: true`): something the agent can act on. Invalid arguments
  (nothing was sent to Persona), an object that does not exist, a conflict, Persona refusing the request,
  an outage, Persona's rate limit. The text content is the whole message with the next step: the field
  to fix, the tool that finds the right id, whether repeating the same call is safe. Programs read
  `_meta["persona-mcp/error"]`: `{"kind": "not_found", "retry_safe": false}`, where `kind` names the
  failure (`invalid_arguments`, `not_found`, `upstream_unavailable`, `outcome_unknown`, ...) and
  `retry_safe` is `true` (the same call may be repeated), `false` (check the object's state first) or
  `null` (the call did not run: fix the arguments). The text ends in exactly one retry hint, chosen by
  the failure kind (`server/errors.py` `RETRY_HINTS`), so no message says both "retrying will not help"
  and "do not retry blindly". A wrong id is explained in words, never as a pattern: `account_id:
  inq_... is an inquiry id; get_account needs an account id act_..., which list_accounts or
  search_accounts return` (the tools named are the caller's own that return that kind).
- **Cursors**: `after` takes the `next_cursor` of the same tool's previous page, which is the id of the
  last object listed (Persona's own cursor), so a list tool's schema pins `after` to the id of the kind
  it lists. A cursor of another kind, a malformed one, or one that nothing follows in this listing (made
  up, or from a page with other arguments) is an invalid-arguments error, never an empty last page.
- **JSON-RPC error**: something the agent cannot fix by changing its arguments. An unknown or hidden
  tool (`-32602`, with the closest names among the caller's own tools), a caller without a valid token
  or without the tool's scope (`-32001`, naming the scope), the grant's own rate limit (`-32003`, with
  `retry_after_seconds`), an audit log that cannot be written (`-32002`: no unaudited call is made).

**Why an error result has no `structuredContent`.** The MCP specification requires structured content to
conform to the tool's `outputSchema`, and an error has none of the result's fields. The TypeScript SDK
(the client inside Claude Desktop, Cursor, VS Code and the MCP Inspector) validates structured content
even when `isError` is true, so an error shape in `structuredContent` reached the agent as
`MCP error -32602: Structured content does not match the tool's output schema` instead of our message.
Clients validate structured content only when it is present, and never validate `_meta`, so an error
result without it is accepted by every client. The alternative, an `outputSchema` of `oneOf` result or
error for every tool, would turn every declared result into a union that each client and code generator
must tell apart, and lengthen every `tools/list`, to describe what the text and `_meta` already carry.
`tests/e2e/test_typescript_client.py` holds this contract with the official TypeScript client, over stdio
and streamable HTTP, for every tool.
"""


def render(catalogue: Catalogue, tier1_operations: Iterable[str]) -> str:
    """The whole Markdown page."""
    tier1 = list(tier1_operations)
    covered = catalogue.covered_operations()
    reached = [op for op in tier1 if op in covered]
    lines = [
        "# Tools",
        "",
        "<!-- Generated from src/persona_mcp/tools by `persona-mcp tools --write-docs`; do not edit. -->",
        "",
        f"Coverage: {len(reached)} of {len(tier1)} tier-1 Persona operations -> {len(catalogue)} tools.",
        "",
        "Effect decides the MCP annotations and the scope suffix: `read` -> `<family>:read`, `write` -> "
        "`<family>:write`, `destructive` -> `<family>:delete` (decisions: `inquiries:decide`).",
        "",
    ]
    for toolset in catalogue.toolsets:
        lines += [
            f"## {toolset}",
            "",
            "| Tool | Summary | Scope | Effect | Annotations | Persona operations |",
            "|---|---|---|---|---|---|",
        ]
        for spec in catalogue.in_toolset(toolset):
            lines.append(
                f"| `{spec.name}` | {_summary(spec)} | {_scopes(spec)} | {spec.effect.value} | "
                f"{_hints(spec)} | {_operations(spec)} |"
            )
        lines.append("")
    lines += ["## Scopes", "", "| Scope | Opens | Tools |", "|---|---|---|"]
    for scope, specs in catalogue.by_scope().items():
        names = ", ".join(f"`{spec.name}`" for spec in specs)
        lines.append(f"| `{scope.value}` | {DESCRIPTIONS[scope]} | {names} |")
    missing = [op for op in tier1 if op not in covered]
    if missing:
        lines += ["", "## Not covered", "", *(f"- `{op}`" for op in missing)]
    lines += ["", ERRORS.rstrip("\n")]
    return "\n".join(lines) + "\n"
