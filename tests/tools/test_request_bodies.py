"""What each write tool sends is a body Persona's own OpenAPI schema accepts.

The requests are captured on their way to the sandbox, then validated against the request schema of the
operation they hit in the pinned spec (contract/openapi/persona-openapi-2025-12-08.yaml).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from persona_mcp.persona.client import PersonaClient, RetryPolicy
from persona_mcp.persona.credentials import ApiKeyCredential
from persona_mcp.sandbox import DEFAULT_API_KEY, SandboxConfig, create_app
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.tools import catalogue
from persona_mcp.tools.contract import operation

from .cases import SUCCESSES, Case
from .conftest import Upstream
from .test_behaviour import _world

pytestmark = pytest.mark.anyio

SPEC_URI = "urn:persona-openapi"
WRITE_CASES = [case for case in SUCCESSES if catalogue.get(case.tool).is_write]


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    idempotency_key: str | None = None


@dataclass
class RecordingTransport(httpx2.AsyncBaseTransport):
    """Passes requests to the sandbox and keeps what was sent."""

    inner: httpx2.AsyncBaseTransport
    sent: list[Recorded] = field(default_factory=list)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        content = request.content
        body = json.loads(content) if content else None
        path = request.url.path.removeprefix("/api/v1")
        self.sent.append(Recorded(request.method, path, body, request.headers.get("Idempotency-Key")))
        return await self.inner.handle_async_request(request)


@pytest.fixture(scope="session")
def openapi() -> dict[str, Any]:
    text = files("persona_mcp.contract").joinpath("openapi/persona-openapi-2025-12-08.yaml").read_text()
    spec: dict[str, Any] = yaml.load(text, Loader=yaml.CSafeLoader)
    return spec


@pytest.fixture(scope="session")
def registry(openapi: dict[str, Any]) -> Registry:
    return Registry().with_resource(SPEC_URI, Resource(contents=openapi, specification=DRAFT202012))


@pytest.fixture
async def recording(tmp_path: Path) -> AsyncIterator[tuple[Upstream, RecordingTransport]]:
    app = create_app(SandboxConfig(seed="demo"))
    transport = RecordingTransport(SandboxTransport(app))
    persona = PersonaClient(
        base_url="http://sandbox/api/v1",
        credentials=ApiKeyCredential(DEFAULT_API_KEY),
        transport=transport,
        retry=RetryPolicy(max_retries=0),
    )
    async with persona:
        yield Upstream(persona=persona, state=app.state.sandbox, data_dir=tmp_path), transport


def operation_entry(tool: str, sent: Recorded) -> dict[str, Any]:
    path, method = _operation_for(tool, sent)
    return next(
        operation(op)
        for op in catalogue.get(tool).operations
        if operation(op)["path"] == path and operation(op)["method"].lower() == method
    )


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def _operation_for(tool: str, sent: Recorded) -> tuple[str, str]:
    """The catalogue operation (of the tool's operations) this request hit: (spec path, method)."""
    for operation_id in catalogue.get(tool).operations:
        entry = operation(operation_id)
        pattern = re.sub(r"\{[^}]+\}", "[A-Za-z0-9_]+", entry["path"])
        if entry["method"] == sent.method and re.fullmatch(pattern, sent.path):
            return entry["path"], entry["method"].lower()
    raise AssertionError(f"{tool} sent {sent.method} {sent.path}, none of its operations")


def _request_body(openapi: dict[str, Any], path: str, method: str) -> tuple[dict[str, Any] | None, str]:
    """The operation's requestBody (following a `$ref` into components) and its JSON pointer."""
    location = _pointer("paths", path, method, "requestBody")
    declared = openapi["paths"][path][method].get("requestBody")
    if declared is not None and "$ref" in declared:
        location = declared["$ref"].removeprefix("#/")
        declared = openapi["components"]["requestBodies"][location.rsplit("/", 1)[-1]]
    return declared, location


def _flatten(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, sub in value.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(sub, dict) and sub and key not in ("fields", "parameters"):
                yield from _flatten(sub, name)
            elif isinstance(sub, list) and sub and isinstance(sub[0], dict):
                yield from _flatten(sub[0], f"{name}[]")
            else:
                yield name


def _errors(registry: Registry, location: str, body: Any) -> Iterator[str]:
    schema_pointer = f"{location}/{_pointer('content', 'application/json', 'schema')}"
    validator = Draft202012Validator({"$ref": f"{SPEC_URI}#/{schema_pointer}"}, registry=registry)
    for error in validator.iter_errors(body):
        yield f"{'/'.join(map(str, error.absolute_path))}: {error.message}"


@pytest.mark.parametrize("case", WRITE_CASES, ids=lambda case: case.tool)
async def test_write_tool_sends_a_body_the_openapi_schema_accepts(
    recording: tuple[Upstream, RecordingTransport], registry: Registry, openapi: dict[str, Any], case: Case
) -> None:
    upstream, transport = recording
    world = await _world(upstream)
    transport.sent.clear()
    await upstream.call(case.tool, **case.args(world))
    assert len(transport.sent) == 1, "one tool call, one upstream request"
    sent = transport.sent[0]
    path, method = _operation_for(case.tool, sent)
    if path not in openapi["paths"] and sent.body is None:
        return  # a hidden action without a body (submit a database-business verification)
    if method not in openapi["paths"].get(path, {}):
        # Hidden or withdrawn endpoint (set-simulate-stubs, document writes, face imports): check against
        # the fields the catalogue documents instead.
        declared_body = operation_entry(case.tool, sent)["request_body"] or {"fields": []}
        documented = {f["name"] for f in declared_body["fields"]}
        assert set(_flatten(sent.body)) <= documented, f"{case.tool}: {set(_flatten(sent.body)) - documented}"
        return
    declared, location = _request_body(openapi, path, method)
    if sent.body is None:
        assert declared is None or not declared.get("required"), f"{case.tool} sent no body to {path}"
        return
    assert declared is not None, f"{case.tool} sent a body to {method.upper()} {path}, which takes none"
    problems = list(_errors(registry, location, sent.body))
    assert problems == [], f"{case.tool}: {problems}"


async def test_writes_carry_the_idempotency_key_the_pipeline_chose(
    recording: tuple[Upstream, RecordingTransport],
) -> None:
    upstream, transport = recording
    spec = catalogue.get("create_list")
    args = spec.input_model.model_validate({"type": "name", "name": "n"})
    keys = []
    for _ in range(2):
        ctx = upstream.context(write=True)
        await spec.handler(ctx, args)
        assert transport.sent[-1].idempotency_key == ctx.idempotency_key is not None
        assert ctx.touched_ids and ctx.touched_ids[0].startswith("lst_")
        keys.append(ctx.idempotency_key)
    assert keys[0] != keys[1]
