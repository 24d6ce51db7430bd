"""Errors an agent can act on (issue 12, point 5), through the real MCP client against the sandbox.

A wrong id is explained in words: what kind was given, what kind is needed, which tools return one.
A cursor that is not from the tool's own listing is an error, never an empty page that reads as the end
of the data. An unknown tool name gets the closest names among the caller's own tools. And every
failure ends in one retry hint, never two that contradict each other.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.errors import (
    PersonaError,
    UnexpectedResponseError,
    UnsafePathError,
    error_for_status,
)
from persona_mcp.persona.ids import PREFIXES, ObjectKind
from persona_mcp.server.errors import tool_error
from persona_mcp.testing import Harness, connected
from persona_mcp.tools import CATALOGUE, catalogue
from persona_mcp.tools.factories import CursorNotInListingError
from persona_mcp.tools.mcp_schema import input_schema
from persona_mcp.tools.spec import ToolSpec

pytestmark = pytest.mark.anyio

AnySpec = ToolSpec[Any, Any]

READ_ONLY = ["accounts:read", "inquiries:read", "events:read"]
#: Characters of a regular expression: an id explained in words has none of them.
REGEX_CHARACTERS = ("^", "$", "[", "\\")
#: Words that make a sentence a retry hint (whether, when or how to call again).
HINT = re.compile(r"retry|retrying|repeat|call again|another attempt|try again|is safe", re.IGNORECASE)
KIND_OF_PREFIX = {prefix: kind for kind, prefixes in PREFIXES.items() for prefix in prefixes}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def everything(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    """One server for the sweeps (the calls below never change the sandbox): a grant with every scope."""
    async with connected(tmp_path_factory.mktemp("everything"), list(Scope)) as h:
        yield h


def _text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def _hints(text: str) -> list[str]:
    return [sentence for sentence in re.split(r"(?<=[.!?])\s+", text) if HINT.search(sentence)]


async def _error(h: Harness, tool: str, arguments: dict[str, Any]) -> str:
    result = await h.client.call_tool(tool, arguments)
    assert result.is_error, f"{tool}({arguments}) succeeded: {_text(result)}"
    assert result.meta is not None
    return _text(result)


# -- ids in words --------------------------------------------------------------------------------------------


async def test_an_id_of_another_kind_is_named_with_the_kind_needed_and_the_tools_that_return_one(
    everything: Harness,
) -> None:
    text = await _error(everything, "get_account", {"account_id": "inq_Abc123"})
    assert (
        "account_id: inq_... is an inquiry id; get_account needs an account id act_..., which "
        "list_accounts or search_accounts return" in text
    )
    assert not any(c in text for c in REGEX_CHARACTERS), text


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("act_12-34", "after act_ it has characters other than letters and digits"),
        ("act_" + "a" * 65, "it has more than 64 characters after act_"),
        ("act_", "nothing follows act_"),
        ("account 42", "it does not start with act_..."),
        ("", "it is empty"),
    ],
)
async def test_an_id_with_a_bad_charset_or_length_is_explained_in_words_without_echoing_it(
    everything: Harness, value: str, problem: str
) -> None:
    text = await _error(everything, "get_account", {"account_id": value})
    assert f"account_id: {problem}; get_account needs an account id act_..." in text
    assert not any(c in text for c in REGEX_CHARACTERS), text
    if value.removeprefix("act_"):
        assert value.removeprefix("act_") not in text


def _id_fields(spec: AnySpec) -> Iterator[tuple[str, tuple[str, ...], bool]]:
    """(argument, accepted prefixes, is a list) for each argument of `spec` that takes ids of given kinds."""
    for name, schema in input_schema(spec).get("properties", {}).items():
        variants = [schema, *schema.get("anyOf", [])]
        for variant, is_list in [(v, False) for v in variants] + [
            (v["items"], True) for v in variants if "items" in v
        ]:
            found = re.fullmatch(
                r"\^(?:\(\?:)?([a-z|]+)\)?_\[A-Za-z0-9\]\{1,64\}\$", variant.get("pattern", "")
            )
            if found:
                yield name, tuple(found.group(1).split("|")), is_list
                break


ID_FIELDS = [(spec.name, *field) for spec in CATALOGUE for field in _id_fields(spec)]


def test_the_sweep_covers_every_kind_of_id_argument() -> None:
    kinds = {KIND_OF_PREFIX.get(prefixes[0], prefixes[0]) for _, _, prefixes, _ in ID_FIELDS}
    assert {ObjectKind.ACCOUNT, ObjectKind.INQUIRY, ObjectKind.LIST_ITEM, ObjectKind.WEBHOOK, "tag"} <= kinds
    assert {name for name, field, _, _ in ID_FIELDS if field == "after"} == {
        spec.name for spec in CATALOGUE if spec.finds is not None and "after" in spec.input_model.model_fields
    }


@pytest.mark.parametrize(("tool", "field", "prefixes", "is_list"), ID_FIELDS, ids=lambda v: str(v))
async def test_every_id_argument_of_every_tool_explains_an_id_of_another_kind_in_words(
    everything: Harness, tool: str, field: str, prefixes: tuple[str, ...], is_list: bool
) -> None:
    given_kind = next(
        kind
        for kind in (ObjectKind.INQUIRY, ObjectKind.ACCOUNT, ObjectKind.LIST)
        if PREFIXES[kind][0] not in prefixes
    )
    wrong = f"{PREFIXES[given_kind][0]}_Wrong0001"
    text = await _error(everything, tool, {field: [wrong] if is_list else wrong})

    needed = KIND_OF_PREFIX.get(prefixes[0])
    several = len({KIND_OF_PREFIX.get(prefix) for prefix in prefixes}) > 1  # case objects: act_, inq_, ...
    label = needed.value.replace("-", " ") if needed is not None else prefixes[0]
    article = "an" if given_kind.value[0] in "aeiou" else "a"
    assert f"{PREFIXES[given_kind][0]}_... is {article} {given_kind.value} id" in text, text
    assert (f"{label}, " if several else f"{label} id") in text and f"{prefixes[0]}_..." in text, text
    returners = catalogue.returners_for(needed) if needed is not None else []
    if field == "after":
        assert f"next_cursor of a previous {tool} page" in text, text
    elif returners:
        assert any(name in text for name in returners), text
    else:
        assert "Persona dashboard" in text, text
    assert not any(c in text for c in REGEX_CHARACTERS), text
    assert len(_hints(text)) == 1, text


async def test_a_wrong_id_is_refused_before_anything_reaches_persona(everything: Harness) -> None:
    await _error(everything, "get_inquiry", {"inquiry_id": "act_Abc123"})
    records = [r async for r in iter_records(everything.app.store, AuditFilter(tool="get_inquiry"))]
    last = records[-1]
    assert (last.kind, last.error_kind, last.upstream_status) == ("call.outcome", "invalid_arguments", None)


# -- cursors -------------------------------------------------------------------------------------------------


async def test_a_cursor_of_another_tool_is_an_error_in_words_not_an_empty_page(everything: Harness) -> None:
    inquiries = await everything.client.call_tool("list_inquiries", {"page_size": 1})
    assert inquiries.structured_content is not None
    foreign = inquiries.structured_content["next_cursor"]
    text = await _error(everything, "list_accounts", {"after": foreign})
    assert "inq_... is an inquiry id" in text and "next_cursor of a previous list_accounts page" in text
    assert not any(c in text for c in REGEX_CHARACTERS), text


@pytest.mark.parametrize("cursor", ["not a cursor!", "act_Ab-1", "%2Fadmin", "x" * 100])
async def test_a_malformed_cursor_is_an_error(everything: Harness, cursor: str) -> None:
    text = await _error(
        everything,
        "search_accounts",
        {"conditions": [{"attribute": "reference_id", "value": "usr-1001"}], "after": cursor},
    )
    assert text.startswith("Invalid arguments for search_accounts: after:"), text
    assert cursor not in text


async def test_a_well_formed_cursor_that_is_not_in_the_listing_is_an_error_not_the_end_of_the_data(
    everything: Harness,
) -> None:
    text = await _error(everything, "list_accounts", {"after": "act_NotInThisListing0"})
    assert "nothing follows this cursor" in text and "leave after out to start from the first page" in text
    assert len(_hints(text)) == 1, text


async def test_a_cursor_from_the_tools_own_page_still_pages(everything: Harness) -> None:
    first = await everything.client.call_tool("list_accounts", {"page_size": 1})
    assert first.structured_content is not None and not first.is_error
    cursor = first.structured_content["next_cursor"]
    second = await everything.client.call_tool("list_accounts", {"page_size": 1, "after": cursor})
    assert not second.is_error and second.structured_content is not None
    assert second.structured_content["items"][0]["id"] != first.structured_content["items"][0]["id"]


# -- unknown tools -------------------------------------------------------------------------------------------


async def test_an_unknown_tool_gets_the_closest_names_among_the_callers_tools_only(tmp_path: Path) -> None:
    async with connected(tmp_path, READ_ONLY) as h:
        with pytest.raises(MCPError) as misspelt:
            await h.client.call_tool("get_acount", {})
        assert "Unknown tool: get_acount. Did you mean get_account" in misspelt.value.message
        with pytest.raises(MCPError) as hidden:
            await h.client.call_tool("create_acount", {})  # create_account exists, but not for this grant
        assert "create_account" not in hidden.value.message and "Unknown tool" in hidden.value.message
        with pytest.raises(MCPError) as nothing_close:
            await h.client.call_tool("drop_database", {})
        assert "Did you mean" not in nothing_close.value.message
        assert "tools/list" in nothing_close.value.message


# -- one retry hint ------------------------------------------------------------------------------------------


def _upstream_failures() -> list[PersonaError]:
    failures: list[PersonaError] = [
        error_for_status(
            status, method="POST", attempts=2, maybe_applied=maybe_applied, retry_after=retry_after
        )
        for status in (400, 401, 403, 404, 409, 422, 429, 500, 503, None)
        for maybe_applied in (False, True)
        for retry_after in (None, 5.0)
    ]
    failures += [
        UnexpectedResponseError("answer of an unexpected shape", status=200),
        UnsafePathError("refused path"),
        CursorNotInListingError("no page follows the after cursor", status=200),
    ]
    return failures


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda spec: spec.name)
def test_every_failure_of_every_tool_ends_in_exactly_one_retry_hint(spec: AnySpec) -> None:
    from persona_mcp.tools.recovery import explain

    for error in _upstream_failures():
        failure = explain(spec, error, {"account_id": "act_Abc123", "reference_id": "usr-1"})
        text = _text(tool_error(failure.message, kind=failure.kind, retry_safe=failure.retry_safe))
        assert len(_hints(text)) == 1, f"{type(error).__name__} {error.status}: {text}"


async def test_an_upstream_auth_failure_says_once_that_retrying_will_not_help(everything: Harness) -> None:
    everything.sandbox.faults.fail_next = [401]
    text = await _error(everything, "get_account", {"account_id": "act_Abc123"})
    assert len(_hints(text)) == 1 and text.endswith(" Retrying will not help."), text
    assert "retry blindly" not in text
