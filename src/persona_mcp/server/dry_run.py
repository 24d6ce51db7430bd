"""Dry runs: every write tool takes `dry_run: true` and answers with the request it would send.

The tool's own handler runs against a Persona client that refuses to send: its first request (every
write tool sends exactly one) is captured, after the same path check a real call makes, and the handler
stops there. Nothing reaches Persona, no credential is fetched, no rate budget is spent. The caller gets
the method, path, query and JSON body, with personal values masked unless its grant holds `pii:read`.

`dry_run` is one boolean in each write tool's input schema, without a description (explained once in the
server instructions); the pipeline takes it out of the arguments before they are validated by the
tool's model, so the model and its digest stay those of the real call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
import mcp_types as types

from persona_mcp.persona.client import PersonaClient
from persona_mcp.persona.paths import check_path
from persona_mcp.pii import MASK, transform_pii
from persona_mcp.server.approvals import placeholder_result
from persona_mcp.tools.mcp_schema import DRY_RUN
from persona_mcp.tools.spec import ToolSpec

AnySpec = ToolSpec[Any, Any]


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """The request a call would send to Persona."""

    method: str
    path: str
    params: dict[str, Any] | None
    body: Any


class RequestCaptured(Exception):
    """Raised by the dry-run client at the first request, carrying it."""

    def __init__(self, request: PlannedRequest) -> None:
        super().__init__(request.method)
        self.request = request


class _DryRunClient(PersonaClient):
    """A bound client whose every call is captured instead of sent."""

    async def _call(
        self,
        method: str,
        path: str,
        decode: Callable[[httpx2.Response], Any],
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        accept: str = "application/json",
    ) -> Any:
        check_path(path)
        raise RequestCaptured(PlannedRequest(method, path, dict(params) if params else None, _plain(json)))


def dry_run_client(persona: PersonaClient) -> PersonaClient:
    """A copy of `persona` (sharing nothing it could send with) that captures instead of sending."""
    bound = persona.bind()
    bound.__class__ = _DryRunClient
    return bound


def split_dry_run(spec: AnySpec, raw_args: Mapping[str, Any]) -> tuple[bool | None, Mapping[str, Any]]:
    """(`dry_run` flag, the arguments without it) for a write tool; (False, unchanged) for a read tool
    (whose model refuses the unknown field). The flag is None when it is present but not a boolean."""
    if not spec.is_write or DRY_RUN not in raw_args:
        return False, raw_args
    flag = raw_args[DRY_RUN]
    rest = {key: value for key, value in raw_args.items() if key != DRY_RUN}
    return (flag if isinstance(flag, bool) else None), rest


def masked_body(spec: AnySpec, args: Any, body: Any) -> tuple[Any, bool]:
    """`body` with every string that came from a personal argument replaced by the mask.

    The body is Persona's shape (kebab keys, JSON:API envelope), not the input model's, so the personal
    values are found in the validated arguments (by the model's PII markers) and replaced wherever they
    appear in the body."""
    personal: set[str] = set()

    def collect(value: Any) -> Any:
        if isinstance(value, str) and value:
            personal.add(value)
        return value

    transform_pii(spec.input_model, args.model_dump(mode="json", by_alias=True), collect)
    if not personal:
        return body, False
    changed = False

    def replace(value: Any) -> Any:
        nonlocal changed
        if isinstance(value, str) and value in personal:
            changed = True
            return MASK
        if isinstance(value, Mapping):
            return {key: replace(item) for key, item in value.items()}
        if isinstance(value, list):
            return [replace(item) for item in value]
        return value

    return replace(body), changed


def dry_run_result(
    spec: AnySpec, request: PlannedRequest, body: Any, *, masked: bool, approval: str, approval_reason: str
) -> types.CallToolResult:
    """The dry run's answer: valid for the tool's output schema (`type: dry_run`), the request under
    `dry_run`."""
    planned: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "approval": approval,
        "approval_reason": approval_reason,
        "sent": False,
    }
    if request.params:
        planned["query"] = request.params
    if body is not None:
        planned["body"] = body
    data = placeholder_result(spec, object_id="dry_run", object_type="dry_run", status="dry_run")
    data[DRY_RUN] = planned
    summary = f"Dry run of {spec.name}: nothing was sent. It would send {request.method} {request.path}"
    summary += "; approval required first." if approval == "required" else "."
    content: list[types.ContentBlock] = [
        types.TextContent(type="text", text=summary),
        types.TextContent(type="text", text=json.dumps(data, separators=(",", ":"), ensure_ascii=False)),
    ]
    if masked:
        content.append(
            types.TextContent(
                type="text",
                text="Personal data in this request is masked: the caller's grant lacks pii:read.",
            )
        )
    return types.CallToolResult(
        content=content, structured_content=data, meta={"persona-mcp/pii-masked": masked}
    )


def _plain(value: Any) -> Any:
    """A JSON copy of the body (handlers may pass mappings that are not dicts)."""
    return json.loads(json.dumps(value)) if value is not None else None
