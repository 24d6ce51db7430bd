"""A tool error reaches every MCP client with its message intact.

The TypeScript SDK (inside Claude Desktop, Cursor, VS Code and the MCP Inspector) validates
`structuredContent` against the tool's `outputSchema` even when `isError` is true, and turns a mismatch
into `MCP error -32602` that hides our message. So an error result carries no structured content; its
machine-readable kind and retry safety travel in `_meta`, which no client validates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from persona_mcp.auth.scopes import Scope
from persona_mcp.server.errors import ERROR_META
from persona_mcp.testing import Harness, connected

pytestmark = pytest.mark.anyio

MISSING_ACCOUNT = "act_Missing000000000000000000"


@dataclass(frozen=True)
class ErrorCase:
    """A call that fails as `kind`; `fail_next` makes the sandbox answer those statuses first."""

    tool: str
    arguments: dict[str, Any]
    kind: str
    retry_safe: bool | None
    says: str
    fail_next: tuple[int, ...] = ()


CASES = [
    ErrorCase("get_account", {"account_id": "act_../x"}, "invalid_arguments", None, "account_id"),
    ErrorCase("get_account", {"account_id": MISSING_ACCOUNT}, "not_found", False, MISSING_ACCOUNT),
    ErrorCase(
        "get_account", {"account_id": MISSING_ACCOUNT}, "invalid_request", False, "get_account", (422,)
    ),
    ErrorCase("create_account", {"reference_id": "usr-x"}, "conflict", False, "create_account", (409,)),
    ErrorCase("list_accounts", {}, "upstream_forbidden", False, "list_accounts", (403,)),
]


async def _fail(h: Harness, case: ErrorCase) -> Any:
    h.sandbox.faults.fail_next = list(case.fail_next)
    return await h.client.call_tool(case.tool, case.arguments)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.kind)
async def test_an_error_result_has_no_structured_content_and_names_its_kind_in_meta(
    tmp_path: Path, case: ErrorCase
) -> None:
    async with connected(tmp_path, list(Scope)) as h:
        result = await _fail(h, case)
    assert result.is_error
    assert result.structured_content is None, "structured content must match the output schema"
    assert result.meta is not None and result.meta[ERROR_META] == {
        "kind": case.kind,
        "retry_safe": case.retry_safe,
    }
    assert len(result.content) == 1 and case.says in result.content[0].text  # type: ignore[union-attr]


async def test_an_error_result_would_pass_a_client_that_validates_structured_content_on_errors(
    tmp_path: Path,
) -> None:
    """The rule the TypeScript client applies: any structured content present must match outputSchema."""
    async with connected(tmp_path, list(Scope)) as h:
        schemas = {tool.name: tool.output_schema for tool in (await h.client.list_tools()).tools}
        for case in CASES:
            result = await _fail(h, case)
            assert result.is_error
            schema = schemas[case.tool]
            assert schema is not None
            if result.structured_content is not None:
                jsonschema.validate(result.structured_content, schema, cls=jsonschema.Draft202012Validator)


def test_docs_name_the_meta_key_where_programs_find_the_failure_kind() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "tools.md").read_text()
    errors = docs.split("## Errors", 1)[1]
    assert f'`_meta["{ERROR_META}"]`' in errors
    assert "structuredContent" in errors
