"""`dry_run: true` on every write tool, through the MCP client: the reported request is the one Persona's
OpenAPI schema accepts, nothing reaches the sandbox, the answer fits the tool's output schema, and the
call leaves a `call.dry_run` record."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from persona_mcp.audit.query import AuditFilter, query_records
from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.client import PersonaClient, RetryPolicy
from persona_mcp.persona.credentials import ApiKeyCredential
from persona_mcp.pii import MASK
from persona_mcp.sandbox import DEFAULT_API_KEY, SandboxConfig, create_app
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.testing import connected
from persona_mcp.tools import catalogue
from persona_mcp.tools.mcp_schema import output_schema

from .conftest import Upstream
from .test_behaviour import _world
from .test_request_bodies import (
    SPEC_URI,
    WRITE_CASES,
    Recorded,
    _errors,
    _operation_for,
    _request_body,
    operation_entry,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def openapi_spec() -> dict[str, Any]:
    text = files("persona_mcp.contract").joinpath("openapi/persona-openapi-2025-12-08.yaml").read_text()
    spec: dict[str, Any] = yaml.load(text, Loader=yaml.CSafeLoader)
    return spec


@pytest.fixture(scope="module")
def spec_registry(openapi_spec: dict[str, Any]) -> Registry:
    return Registry().with_resource(SPEC_URI, Resource(contents=openapi_spec, specification=DRAFT202012))


EVERY_SCOPE = [scope.value for scope in Scope if scope is not Scope.AUDIT_ALL_ENVIRONMENTS]


async def _world_in(app: Any, tmp_path: Path) -> Any:
    persona = PersonaClient(
        base_url="http://sandbox/api/v1",
        credentials=ApiKeyCredential(DEFAULT_API_KEY),
        transport=SandboxTransport(app),
        retry=RetryPolicy(max_retries=0),
    )
    async with persona:
        return await _world(Upstream(persona=persona, state=app.state.sandbox, data_dir=tmp_path))


def _problems(openapi: dict[str, Any], registry: Registry, tool: str, planned: dict[str, Any]) -> list[str]:
    sent = Recorded(planned["method"], planned["path"], planned.get("body"))
    path, method = _operation_for(tool, sent)
    if method not in openapi["paths"].get(path, {}):
        # Hidden or withdrawn endpoint (set-simulate-stubs, document writes, face imports, submits): the
        # catalogue documents it.
        declared_body = operation_entry(tool, sent)["request_body"] or {"fields": []}
        documented = {f["name"] for f in declared_body["fields"]}
        return [] if sent.body is None or documented else [f"{tool}: undocumented body"]
    declared, location = _request_body(openapi, path, method)
    if sent.body is None:
        return [] if declared is None or not declared.get("required") else [f"{tool}: no body"]
    if declared is None:
        return [f"{tool}: a body to {method.upper()} {path}, which takes none"]
    return [f"{tool}: {problem}" for problem in _errors(registry, location, sent.body)]


async def test_every_write_tool_dry_runs_to_a_request_the_openapi_schema_accepts_and_sends_nothing(
    tmp_path: Path, openapi_spec: dict[str, Any], spec_registry: Registry
) -> None:
    app = create_app(SandboxConfig(seed="demo"))
    world = await _world_in(app, tmp_path / "world")
    assert {case.tool for case in WRITE_CASES} == {spec.name for spec in catalogue if spec.is_write}
    async with connected(tmp_path / "server", EVERY_SCOPE, sandbox=app) as h:
        before = dict(h.sandbox.counters)
        problems: list[str] = []
        for case in WRITE_CASES:
            result = await h.client.call_tool(case.tool, {**case.args(world), "dry_run": True})
            assert not result.is_error, (case.tool, result.content)
            data = result.structured_content
            assert data is not None
            Draft202012Validator(output_schema(catalogue.get(case.tool))).validate(data)
            planned = data["dry_run"]
            assert planned["sent"] is False
            problems += _problems(openapi_spec, spec_registry, case.tool, planned)
            expected = catalogue.get(case.tool).approval_policy.value
            assert planned["approval"] == expected, case.tool
        assert dict(h.sandbox.counters) == before, "a dry run sends nothing upstream"
        assert problems == []
        records = await query_records(h.app.store, AuditFilter(kind="call.dry_run"), limit=None)
        assert sorted(r.tool for r in records if r.tool) == sorted(case.tool for case in WRITE_CASES)
        assert not await query_records(h.app.store, AuditFilter(kind="call.intent"), limit=None)


async def test_a_dry_run_masks_personal_values_for_a_grant_without_pii_read(tmp_path: Path) -> None:
    async with connected(tmp_path, ["accounts:write"]) as h:
        args = {"reference_id": "ref-9", "name_first": "Jane", "email_address": "jane@example.com"}
        result = await h.client.call_tool("create_account", {**args, "dry_run": True})
        planned = result.structured_content["dry_run"]  # type: ignore[index]
        attributes = planned["body"]["data"]["attributes"]
        assert attributes["name-first"] == MASK and attributes["email-address"] == MASK
        assert planned["method"] == "POST" and planned["path"] == "/accounts"
        assert planned["approval"] == "none"
        assert h.sandbox.counters.get("accounts.create", 0) == 0


async def test_a_dry_run_of_a_tool_needing_approval_says_so_and_creates_no_approval(tmp_path: Path) -> None:
    async with connected(tmp_path, ["accounts:read", "accounts:delete"]) as h:
        account = sorted(r.id for r in h.sandbox.records.values() if r.type == "account")[0]
        result = await h.client.call_tool("redact_account", {"account_id": account, "dry_run": True})
        planned = result.structured_content["dry_run"]  # type: ignore[index]
        assert planned["approval"] == "required"
        assert (planned["method"], planned["path"]) == ("DELETE", f"/accounts/{account}")
        assert await h.app.review.listing(states=None) == []
        assert h.sandbox.counters.get("accounts.redact", 0) == 0


async def test_dry_run_must_be_a_boolean_and_read_tools_do_not_take_it(tmp_path: Path) -> None:
    async with connected(tmp_path, ["accounts:write"]) as h:
        bad = await h.client.call_tool("create_account", {"reference_id": "r", "dry_run": "yes"})
        assert bad.is_error and "dry_run" in bad.content[0].text  # type: ignore[union-attr]
        read = await h.client.call_tool("list_accounts", {"dry_run": True})
        assert read.is_error and "dry_run" in read.content[0].text  # type: ignore[union-attr]
        listed = {tool.name: tool for tool in (await h.client.list_tools()).tools}
        assert listed["create_account"].input_schema["properties"]["dry_run"] == {"type": "boolean"}
        assert "dry_run" not in listed["list_accounts"].input_schema["properties"]
