"""`docs/tools.md`, rendered from the catalogue so the documentation cannot drift from the code.

A staleness test compares the committed file with this render; regenerate with
`persona-mcp docs generate`. Headings and the toolset table come from the `Toolset` values
(`persona_mcp/toolsets.py`), the scope table from the scope rows (`auth/scopes.py`).
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


#: Why the default toolsets are what they are; the opt-in reason of each family is in its description.
DEFAULTS = """A server offers the **default** toolsets unless `persona-mcp serve --toolsets` names others:
`--toolsets all` opens every toolset, `--toolsets default,webhooks` adds one family to the defaults, and
`--tools` adds single tools. A grant still decides, per caller, which of the offered tools are listed.

**Why these defaults.** Every listed tool costs the agent context on every turn, so the default surface
is what a trust-and-safety or compliance agent needs every day: accounts, inquiries and their sessions,
events, and the reviewer essentials (verifications, reports, cases). Everything else is opt-in:
- `lists`, `list_items` and `webhooks` configure the organisation (block lists, integrations); they
  are set up rarely, by an administrator, and `list_items` alone has the largest schemas of the catalogue.
- `simulation` drives sandbox inquiries for tests and demos; Persona refuses it with a production key.
- `audit` is the security reviewer's toolset, a role of its own: it needs `audit:read`, which no default
  grant holds, so a reviewer's server names it (`--toolsets audit` or `default,audit`).
- the other families (documents, transactions, logs, importers, workflows, templates, devices, rate
  limits) serve investigation, operations or set-up work beyond the daily review.

Budgets, enforced on the bytes `tools/list` sends (`tests/tools/test_catalogue_size.py`, figures in
`benchmarks/catalogue_size.py`): default surface for a grant holding every scope at most 64 KiB, the
read-only default surface at most 24 KiB, any single toolset at most 24 KiB.
"""


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
        "<!-- Generated from src/persona_mcp/tools by `persona-mcp docs generate`; do not edit. -->",
        "",
        f"Coverage: {len(reached)} of {len(tier1)} tier-1 Persona operations -> {len(catalogue)} tools.",
        "",
        "Effect decides the MCP annotations and the scope suffix: `read` -> `<family>:read`, `write` -> "
        "`<family>:write`, `destructive` -> `<family>:delete` (decisions: `<family>:decide`).",
        "",
        "## Toolsets",
        "",
        DEFAULTS,
        "| Toolset | Offered | Tools | Scopes | Holds |",
        "|---|---|---|---|---|",
    ]
    for toolset_id in catalogue.toolsets:
        toolset = catalogue.toolset(toolset_id)
        lines.append(
            f"| `{toolset.id}` | {'default' if toolset.default else 'opt-in'} | "
            f"{len(catalogue.in_toolset(toolset.id))} | `{toolset.scope_family}:*` | {toolset.description} |"
        )
    lines.append("")
    for toolset_id in catalogue.toolsets:
        toolset = catalogue.toolset(toolset_id)
        lines += [
            f"## {toolset.title} (`{toolset.id}`, {'default' if toolset.default else 'opt-in'})",
            "",
            toolset.description,
            "",
            "| Tool | Summary | Scope | Effect | Annotations | Persona operations |",
            "|---|---|---|---|---|---|",
        ]
        specs = catalogue.in_toolset(toolset_id)
        for spec in specs:
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
