"""A family's shared parts are written once and every tool of it gets them the same way."""

from __future__ import annotations

import pytest

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import ObjectKind
from persona_mcp.tools import catalogue
from persona_mcp.tools.accounts import ACCOUNTS, Account, AccountResult, SearchAccounts
from persona_mcp.tools.describe import DescriptionShapeError
from persona_mcp.tools.factories import Method, action_tool, get_tool
from persona_mcp.tools.family import Family
from persona_mcp.tools.inquiry_sessions import InquirySessionChanged
from persona_mcp.tools.mcp_schema import input_schema, to_mcp_tool
from persona_mcp.tools.results import page_of
from persona_mcp.tools.search import search_tool
from persona_mcp.tools.spec import Effect

SESSIONS = Family(toolset="inquiry_sessions", kind=ObjectKind.INQUIRY_SESSION, changed=InquirySessionChanged)


def test_path_id_argument_and_id_hint_follow_from_the_kind() -> None:
    assert SESSIONS.path == "/inquiry-sessions/{inquiry_session_id}"
    assert SESSIONS.id_field == "inquiry_session_id" and SESSIONS.collection == "/inquiry-sessions"
    get = SESSIONS.get("Read one session.\nUse this when you need it.", result=InquirySessionChanged)
    assert get.name == "get_inquiry_session" and get.title == "Get an inquiry session"
    assert "\nIDs: list_inquiry_sessions.\n" in get.description + "\n"


def test_the_scope_follows_from_the_effect_and_the_toolsets_scope_family() -> None:
    assert SESSIONS.scope(Effect.READ) is Scope.INQUIRIES_READ
    assert SESSIONS.scope(Effect.WRITE) is Scope.INQUIRIES_WRITE
    assert SESSIONS.scope(Effect.DESTRUCTIVE) is Scope.INQUIRIES_DELETE
    assert SESSIONS.scope(Effect.DESTRUCTIVE, decide=True) is Scope.INQUIRIES_DECIDE


def test_tag_tools_are_one_call_for_any_kind_of_object() -> None:
    add, remove, replace_all = SESSIONS.tag_tools()
    assert [add.name, remove.name, replace_all.name] == [
        "add_inquiry_session_tag",
        "remove_inquiry_session_tag",
        "set_inquiry_session_tags",
    ]
    assert add.operations == ("inquiry_sessions.add_tag",) and add.scope is Scope.INQUIRIES_WRITE
    schema = input_schema(add)
    assert schema["required"] == ["inquiry_session_id"] and {"tag_name", "tag_id"} <= set(
        schema["properties"]
    )
    assert add.output_model is InquirySessionChanged and add.annotations.idempotent


def test_accounts_and_inquiries_tag_tools_come_from_the_same_builder() -> None:
    for noun in ("account", "inquiry"):
        specs = [catalogue.get(f"{verb}_{noun}_tag") for verb in ("add", "remove")]
        specs.append(catalogue.get(f"set_{noun}_tags"))
        assert [spec.operations[0].split(".")[1] for spec in specs] == ["add_tag", "remove_tag", "set_tags"]
        assert all(f"{noun}_id" in spec.input_model.model_fields for spec in specs)


def test_a_description_of_another_shape_is_refused_where_it_is_declared() -> None:
    with pytest.raises(DescriptionShapeError):
        SESSIONS.get("Read one session without saying when to use it.", result=InquirySessionChanged)


def test_spec_factories_for_modules_not_yet_on_a_family_make_the_same_tools() -> None:
    """Modules written against the factories (get_tool, action_tool, search_tool) still plug in."""
    declared = get_tool(
        name="get_account",
        toolset="accounts",
        title="Get an account",
        description=catalogue.get("get_account").description,
        scope=Scope.ACCOUNTS_READ,
        operation="accounts.retrieve",
        input_model=ACCOUNTS.ref(),
        result=AccountResult,
        path="/accounts/{account_id}",
    )
    assert to_mcp_tool(declared) == to_mcp_tool(catalogue.get("get_account"))
    searched = search_tool(
        name="search_accounts",
        toolset="accounts",
        title="Search accounts",
        description=catalogue.get("search_accounts").description,
        scope=Scope.ACCOUNTS_READ,
        operation="accounts.search",
        input_model=SearchAccounts,
        page=page_of(Account),
        view=Account,
        path="/accounts/search",
        finds=ObjectKind.ACCOUNT,
    )
    assert to_mcp_tool(searched) == to_mcp_tool(catalogue.get("search_accounts"))
    redact = action_tool(
        name="redact_account",
        toolset="accounts",
        title="Redact an account (irreversible)",
        description=catalogue.get("redact_account").description,
        scope=Scope.ACCOUNTS_DELETE,
        effect=Effect.DESTRUCTIVE,
        operation="accounts.redact",
        input_model=ACCOUNTS.ref(),
        result=ACCOUNTS.changed,  # type: ignore[arg-type]
        method=Method.DELETE,
        path="/accounts/{account_id}",
        idempotent=True,
    )
    assert to_mcp_tool(redact) == to_mcp_tool(catalogue.get("redact_account"))
