"""The policy over the real catalogue: every tool against every single scope, and the docs table."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import Grant, PrincipalKind
from persona_mcp.auth.policy import authorize, decide, visible
from persona_mcp.auth.scopes import IMPLIES, Scope, expand
from persona_mcp.cli.docs import ACCESS_MD, generate, stale_files
from persona_mcp.tools import CATALOGUE
from persona_mcp.tools.scope_docs import render_scopes_markdown, section_of

NOW = datetime(2026, 3, 1, tzinfo=UTC)
TOOLS = {spec.name: spec for spec in CATALOGUE}
DECIDE_TOOLS = [spec for spec in CATALOGUE if spec.scope.value.endswith(":decide")]
DESTRUCTIVE_TOOLS = [spec for spec in CATALOGUE if spec.scope.value.endswith(":delete")]
WRITE_SCOPES = frozenset(scope for scope in Scope if scope.value.endswith(":write"))


def _grant(scopes: frozenset[Scope], **overrides: Any) -> Grant:
    grant = Grant(
        id="grt_0000000000000000",
        principal="bot",
        principal_kind=PrincipalKind.AGENT,
        environment=Environment.SANDBOX,
        scopes=scopes,
        expires_at=NOW + timedelta(days=1),
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(grant, **overrides)


@pytest.mark.parametrize("held", list(Scope), ids=str)
def test_each_single_scope_opens_exactly_the_tools_of_the_scopes_it_covers(held: Scope) -> None:
    grant = _grant(frozenset({held}))
    covered = {held} | IMPLIES.get(held, frozenset())
    for spec in CATALOGUE:
        decision = authorize(grant, tool=spec.name, scope=spec.scope, effect=spec.effect.value, now=NOW)
        assert decision.allowed is (spec.scope in covered), (held, spec.name)
        if not decision.allowed:
            assert decision.missing_scope is spec.scope


def test_every_scope_together_opens_every_tool_and_listing_agrees() -> None:
    grant = _grant(frozenset(Scope))
    assert visible(grant, CATALOGUE, now=NOW) == list(CATALOGUE)


def test_destructive_and_decide_tools_are_unreachable_from_every_write_scope_together() -> None:
    assert DECIDE_TOOLS and DESTRUCTIVE_TOOLS
    grant = _grant(WRITE_SCOPES)
    for spec in DECIDE_TOOLS + DESTRUCTIVE_TOOLS:
        assert not authorize(
            grant, tool=spec.name, scope=spec.scope, effect=spec.effect.value, now=NOW
        ).allowed
    reachable = {spec.name for spec in visible(grant, CATALOGUE, now=NOW)}
    # Unmaskable tools also need pii:read, which no write scope implies.
    expected = {spec.name for spec in CATALOGUE if spec.scope in expand(WRITE_SCOPES) and not spec.unmaskable}
    assert reachable == expected


def test_a_read_only_grant_with_every_scope_lists_only_read_tools() -> None:
    grant = _grant(frozenset(Scope), read_only=True)
    listed = visible(grant, CATALOGUE, now=NOW)
    assert listed and all(spec.effect.value == "read" for spec in listed)
    assert len(listed) == sum(1 for spec in CATALOGUE if spec.effect.value == "read")


def test_allow_and_deny_lists_over_real_tool_names() -> None:
    grant = _grant(
        frozenset(Scope),
        allow_tools=frozenset({"get_account", "approve_inquiry"}),
        deny_tools=frozenset({"approve_inquiry"}),
    )
    assert [spec.name for spec in visible(grant, CATALOGUE, now=NOW)] == ["get_account"]


def test_the_scope_table_in_docs_access_md_is_current() -> None:
    root = Path(__file__).resolve().parents[2]
    assert ACCESS_MD not in stale_files(root), "docs/access.md is stale: run `persona-mcp docs generate`"
    table = section_of(generate(root).files[ACCESS_MD])
    assert table == render_scopes_markdown(CATALOGUE)
    for scope in Scope:
        row = next(line for line in table.splitlines() if line.startswith(f"| `{scope.value}` |"))
        assert scope.description in row and ("| yes |" in row) is scope.read_only_default


def test_every_catalogue_tool_appears_in_the_scope_table() -> None:
    table = render_scopes_markdown(CATALOGUE)
    assert all(f"`{name}`" in table for name in TOOLS)
    assert resources.files("persona_mcp.tools").joinpath("scope_docs.py").is_file()


def test_the_grants_toml_example_in_docs_access_md_is_valid_against_the_catalogue() -> None:
    from persona_mcp.auth import grants_file

    docs = (Path(__file__).resolve().parents[2] / "docs" / "access.md").read_text(encoding="utf-8")
    example = docs.split("```toml\n", 1)[1].split("```", 1)[0]
    declared = grants_file.parse(tomllib.loads(example), now=NOW)
    grants_file.check_tools(declared, TOOLS)
    assert set(declared.drafts) == {"triage-bot", "reviewer-alice", "nightly-report"}


def test_a_tool_whose_result_cannot_be_masked_is_listed_and_allowed_only_with_pii_read() -> None:
    unmaskable = [spec for spec in CATALOGUE if spec.unmaskable]
    assert unmaskable
    everything = _grant(frozenset(Scope))
    without_pii = _grant(frozenset(Scope) - {Scope.PII_READ})
    narrowed = frozenset(Scope) - {Scope.PII_READ}
    assert all(spec in visible(everything, CATALOGUE, now=NOW) for spec in unmaskable)
    for grant, jwt_scopes in ((without_pii, None), (everything, narrowed)):
        listed = visible(grant, CATALOGUE, now=NOW, jwt_scopes=jwt_scopes)
        assert listed == [spec for spec in CATALOGUE if not spec.unmaskable]
        for spec in unmaskable:
            decision = decide(grant, spec, now=NOW, jwt_scopes=jwt_scopes)
            assert not decision.allowed and decision.missing_scope is Scope.PII_READ
