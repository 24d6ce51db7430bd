"""Exposure precedence and name checking, written once in `Catalogue.select`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import ObjectKind
from persona_mcp.tools import catalogue
from persona_mcp.tools.registry import Catalogue, UnknownToolError
from persona_mcp.toolsets import TOOLSETS


def _names(**kwargs: object) -> set[str]:
    return {spec.name for spec in catalogue.select(**kwargs)}  # type: ignore[arg-type]


def test_nothing_named_exposes_the_default_toolsets_and_all_exposes_every_tool() -> None:
    defaults = {toolset.id for toolset in TOOLSETS if toolset.default}
    assert catalogue.default_toolsets == defaults
    assert {"accounts", "inquiries", "inquiry_sessions", "events"} <= defaults
    assert {"lists", "list_items", "webhooks", "audit", "simulation"}.isdisjoint(defaults)
    assert _names() == {spec.name for spec in catalogue if spec.toolset in defaults}
    assert _names(toolsets={"all"}) == set(catalogue.names)


def test_default_combines_with_named_toolsets() -> None:
    chosen = _names(toolsets={"default", "webhooks"})
    assert chosen == _names() | {spec.name for spec in catalogue.in_toolset("webhooks")}


def test_a_tool_in_an_undeclared_toolset_is_refused_when_the_catalogue_is_built() -> None:
    stray = replace(catalogue.get("get_account"), toolset="acounts")
    with pytest.raises(ValueError, match="undeclared toolset 'acounts'"):
        Catalogue([stray])


def test_every_declared_toolset_is_reachable_by_id_and_families_plug_in_by_id() -> None:
    planned = {"reports", "cases", "verifications", "documents", "transactions", "logs", "importers"}
    planned |= {"workflows", "templates", "devices", "rate_limits"}
    declared = {toolset.id for toolset in TOOLSETS}
    assert planned <= declared and set(catalogue.toolsets) <= declared
    assert {"reports", "cases", "verifications"} <= catalogue.default_toolsets
    assert catalogue.resolve_toolsets(["all"]) == declared


def test_toolsets_and_explicit_tools_add_up() -> None:
    chosen = _names(toolsets={"webhooks"}, tools={"get_account"})
    assert chosen == {spec.name for spec in catalogue.in_toolset("webhooks")} | {"get_account"}


def test_exclusions_beat_inclusions() -> None:
    chosen = _names(toolsets={"accounts"}, tools={"redact_account"}, exclude={"redact_account"})
    assert "redact_account" not in chosen and "get_account" in chosen


def test_read_only_wins_over_an_explicit_tool() -> None:
    chosen = _names(tools={"approve_inquiry", "get_inquiry"}, read_only=True)
    assert chosen == {"get_inquiry"}
    assert all(not spec.is_write for spec in catalogue.select(read_only=True))


@pytest.mark.parametrize(
    "kwargs",
    [{"toolsets": {"acounts"}}, {"tools": {"get_acount"}}, {"exclude": {"redact_acount"}}],
    ids=["toolset", "tool", "exclude"],
)
def test_an_unknown_name_anywhere_is_an_error_naming_the_valid_ones(kwargs: dict[str, set[str]]) -> None:
    with pytest.raises(UnknownToolError) as raised:
        catalogue.select(**kwargs)  # type: ignore[arg-type]
    message = str(raised.value)
    assert "acount" in message and ("accounts" in message or "get_account" in message)


def test_lookup_by_name_refuses_unknown_tools() -> None:
    assert catalogue.get("get_account").scope is Scope.ACCOUNTS_READ
    with pytest.raises(UnknownToolError, match="valid tools"):
        catalogue.get("drop_database")


def test_by_scope_lists_each_tool_once_under_its_scope() -> None:
    grouped = catalogue.by_scope()
    assert sorted(name for specs in grouped.values() for name in (s.name for s in specs)) == sorted(
        catalogue.names
    )
    assert {s.name for s in grouped[Scope.INQUIRIES_DECIDE]} == {
        "approve_inquiry",
        "decline_inquiry",
        "mark_inquiry_for_review",
    }


def test_lister_for_names_the_list_tool_of_a_kind() -> None:
    assert catalogue.lister_for(ObjectKind.ACCOUNT) == "list_accounts"
    assert catalogue.finders_for(ObjectKind.INQUIRY) == ["list_inquiries", "search_inquiries"]
    assert catalogue.lister_for(ObjectKind.VERIFICATION) is None


def test_serve_help_lists_every_toolset_from_its_declaration_with_the_defaults_marked() -> None:
    from typer.testing import CliRunner

    from persona_mcp.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for toolset in TOOLSETS:
        assert f"{toolset.id}{'*' if toolset.default else ''}," in text or f"{toolset.id}." in text
    assert "all = every one" in text and "default = those marked *" in text


def test_serve_refuses_an_unknown_toolset_before_anything_opens(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from persona_mcp.cli import app

    result = CliRunner().invoke(
        app,
        ["serve", "--toolsets", "default,acounts"],
        env={"PERSONA_API_KEY": "x", "PERSONA_MCP_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 2
    assert (
        "unknown toolset 'acounts'" in result.output
        and "valid toolsets: all, default, accounts" in result.output
    )
