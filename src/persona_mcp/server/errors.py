"""The one table that decides what the model sees when a call fails.

Tool errors (`isError: true` results) are for things the agent can act on: bad arguments, a missing
object, a conflict, an outage with a retry hint. JSON-RPC errors are for things the agent cannot fix by
changing its arguments: an unknown tool, a refused caller, an audit log that cannot be written. Messages
are always our own words: upstream free text never passes through unfiltered.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import mcp_types as types
from mcp.shared.exceptions import MCPError

#: JSON-RPC error code for calls refused by policy (implementation-defined server error range).
ACCESS_DENIED = -32001
#: The audit log cannot be written: the call is refused (fail closed).
AUDIT_UNAVAILABLE = -32002
#: Per-grant rate limit exceeded.
RATE_LIMITED = -32003


@dataclass(frozen=True, slots=True)
class Refusal(Exception):
    """A call refused before it reached Persona; becomes a JSON-RPC error."""

    code: int
    message: str
    data: dict[str, object] | None = None

    def to_mcp(self) -> MCPError:
        return MCPError(code=self.code, message=self.message, data=self.data)


#: At most this many close tool names are offered for an unknown one.
MAX_SUGGESTIONS = 3


def unknown_tool(name: str, visible: Collection[str] = ()) -> Refusal:
    """An unknown tool, with the closest names among the tools the caller can see (`visible`).

    A hidden tool behaves exactly like a tool that does not exist, and is never offered: only the names
    the caller's own `tools/list` shows are candidates.
    """
    safe = name if name.replace("_", "").isalnum() and len(name) <= 64 else "<invalid name>"
    close = difflib.get_close_matches(name[:64], sorted(visible), n=MAX_SUGGESTIONS, cutoff=0.6)
    if close:
        options = close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
        advice = f"Did you mean {options}?"
    else:
        advice = "tools/list shows the tools this caller can use."
    return Refusal(types.INVALID_PARAMS, f"Unknown tool: {safe}. {advice}")


def missing_scope(tool: str, scope: str, reason: str) -> Refusal:
    return Refusal(
        ACCESS_DENIED,
        f"Access denied to {tool}: {reason}. The caller's grant needs the scope '{scope}'; "
        "ask an administrator to grant it.",
        {"tool": tool, "required_scope": scope},
    )


def refused(tool: str, reason: str) -> Refusal:
    return Refusal(ACCESS_DENIED, f"Access denied to {tool}: {reason}.", {"tool": tool})


def unauthenticated() -> Refusal:
    return Refusal(
        ACCESS_DENIED,
        "No valid credentials: set PERSONA_MCP_TOKEN to a grant token (pmcp_...) issued by "
        "`persona-mcp grants create`.",
    )


def rate_limited(retry_after: float) -> Refusal:
    seconds = max(1, round(retry_after))
    return Refusal(
        RATE_LIMITED,
        f"Rate limit of this grant exceeded; retry after {seconds} s.",
        {"retry_after_seconds": seconds},
    )


def tool_limited(tool: str, reason: str, retry_after: int) -> Refusal:
    """A per-tool limit of the caller's grant is used up for now."""
    return Refusal(
        RATE_LIMITED,
        f"Rate limited: {reason}. Retry {tool} after {retry_after} seconds.",
        {"tool": tool, "retry_after_seconds": retry_after},
    )


def audit_unavailable(*, stalled: bool = False) -> Refusal:
    if stalled:
        return Refusal(
            AUDIT_UNAVAILABLE,
            "The audit log is stalled: the call's record could not be written within the store's time "
            "bound (another replica or database session holds the audit lock), so the call is refused "
            "(fail closed). Try again shortly; an administrator should check /healthz, /readyz and the "
            "database for the lock's holder.",
            {"stalled": True},
        )
    return Refusal(
        AUDIT_UNAVAILABLE,
        "The audit log cannot be written, so no call can be made (fail closed). "
        "An administrator should check /healthz and the database.",
    )


def outcome_unrecorded(idempotency_key: str) -> Refusal:
    return Refusal(
        AUDIT_UNAVAILABLE,
        "The change may have been made in Persona, but its outcome could not be written to the audit "
        f"log (Idempotency-Key {idempotency_key}). Do not repeat the call: an administrator must check "
        "the object in Persona and /healthz.",
        {"idempotency_key": idempotency_key, "outcome": "unknown"},
    )


def outcome_spooled(outcome: str, idempotency_key: str | None) -> Refusal:
    """The call reached Persona, the audit store failed, and its outcome waits in the local spool."""
    kept = (
        "The audit store failed after the call; its outcome is kept in the server's local spool and "
        "will be added to the audit log when the store is back. The result is withheld until then."
    )
    if idempotency_key is None:
        message = f"{kept} Nothing was changed in Persona (this was a read)."
    elif outcome == "ok":
        message = (
            f"The change was made in Persona (Idempotency-Key {idempotency_key}). {kept} Do not repeat "
            "the call: check the object's state once /healthz reports the audit log healthy."
        )
    else:
        message = (
            f"The change may have been made in Persona (Idempotency-Key {idempotency_key}). {kept} Do "
            "not repeat the call: check the object's state first."
        )
    data: dict[str, object] = {"outcome": outcome, "spooled": True}
    if idempotency_key is not None:
        data["idempotency_key"] = idempotency_key
    return Refusal(AUDIT_UNAVAILABLE, message, data)


#: `_meta` key of an error result: `{"kind": ..., "retry_safe": true | false | null}` for programs.
ERROR_META = "persona-mcp/error"


#: The one retry hint each failure kind ends with, by (kind, retry_safe). Failure messages (tools/recovery.py)
#: say what happened and how to check, never whether to try again: that sentence comes only from here, so
#: a message cannot say "retrying will not help" and then "do not retry blindly".
RETRY_HINTS: Mapping[tuple[str, bool | None], str] = {
    ("invalid_arguments", None): "Fix them and call again.",
    ("invalid_request", False): "Call again only with corrected values.",
    ("not_found", False): "Repeating the same call will not help.",
    ("conflict", False): "Read the object again before another attempt.",
    ("rate_limited", True): "After that wait, repeating the same call is safe.",
    ("upstream_unavailable", True): "Retrying later is safe.",
    ("outcome_unknown", False): "Do not repeat the call blindly: check first whether it took effect.",
    ("upstream_auth", False): "Retrying will not help.",
    ("upstream_forbidden", False): "Retrying will not help.",
    ("credential_unavailable", False): "Retrying will not help until an administrator fixes the credential.",
    # A credential that could not be renewed just now says itself when to try again (`try_later`).
    ("credential_unavailable", True): "",
}
#: The hint of a kind whose retry safety depends on the tool (a read or a write), or of a new kind.
_DEFAULT_HINTS: Mapping[bool | None, str] = {
    True: "Retrying the same call is safe.",
    False: "Do not retry blindly: check the object's state first.",
    None: "",
}


def retry_hint(kind: str, retry_safe: bool | None) -> str:
    """The single retry hint for a failure of `kind` (empty when there is nothing to say)."""
    return RETRY_HINTS.get((kind, retry_safe), _DEFAULT_HINTS[retry_safe])


def tool_error(message: str, *, kind: str, retry_safe: bool | None = None) -> types.CallToolResult:
    """An `isError` result the agent can read and act on, accepted by every MCP client.

    It carries no `structuredContent`: the spec requires structured content to match the tool's
    `outputSchema`, and the TypeScript SDK (Claude Desktop, Cursor, VS Code, the Inspector) validates it
    even on error results, replacing our message with a schema error. Programs read the failure kind and
    retry safety from `_meta` instead, which no client validates. The text ends in the kind's one retry
    hint (`retry_hint`).
    """
    hint = retry_hint(kind, retry_safe)
    text = f"{message} {hint}" if hint else message
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        is_error=True,
        meta={ERROR_META: {"kind": kind, "retry_safe": retry_safe}},
    )
