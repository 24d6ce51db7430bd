"""Every tool against the sandbox: one call that succeeds, one that fails with the right recovery advice."""

from __future__ import annotations

import pytest

from persona_mcp.persona.errors import PersonaError
from persona_mcp.tools import catalogue
from persona_mcp.tools.recovery import explain

from .cases import BUSINESS, FAILURES, MISSING, SUCCESSES, Case, Failure, World
from .conftest import Upstream

pytestmark = pytest.mark.anyio

PERSONA_TOOLS = {spec.name for spec in catalogue if spec.operations}
#: Tools whose answer is about no Persona object (rate limits carry no id).
NAMES_NO_OBJECT = {"list_rate_limits"}


async def _world(u: Upstream) -> World:
    accounts = await u.call("list_accounts", page_size=100)
    by_reference = {item.reference_id: item.id for item in accounts.items}
    inquiries = await u.call("list_inquiries", page_size=100)
    by_status = {item.status: item.id for item in inquiries.items}
    sessions = await u.call("list_inquiry_sessions", inquiry_id=by_status["pending"])
    lists = await u.call("list_lists", page_size=100)
    names = await u.call("create_list", type="name", name="Test names")
    item = await u.call("create_list_item", type="name", list_id=names.id, name_first="Bo", name_last="X")
    account, other = by_reference["usr-1001"], next(v for k, v in by_reference.items() if k != "usr-1001")
    await u.call(
        "add_account_relation", account_id=account, relation_schema_key="parent-of", target_object_id=other
    )
    webhooks = await u.call("list_webhooks")
    events = await u.call("list_events", page_size=1)
    reports = await u.call("list_reports", page_size=100)
    cases = await u.call("list_cases")
    approved = await u.call("get_inquiry", inquiry_id=by_status["approved"])
    verifications = {}
    for verification_id in approved.verification_ids:
        read = await u.call("get_verification", verification_id=verification_id)
        verifications[read.type.removeprefix("verification/")] = read.id
    business = await u.call("create_business_verification", **BUSINESS)
    return World(
        account=account,
        other_account=other,
        inquiry=by_status,
        session=sessions.items[0].id,
        lists={entry.type.removeprefix("list/"): entry.id for entry in lists.items},
        name_list=names.id,
        name_item=item.id,
        webhook=webhooks.items[0].id,
        event=events.items[0].id,
        report=next(item.id for item in reports.items if item.type == "report/watchlist"),
        case=cases.items[0].id,
        verifications=verifications,
        business_verification=business.id,
    )


def test_every_persona_tool_has_a_success_and_a_failure_case() -> None:
    assert {case.tool for case in SUCCESSES} == PERSONA_TOOLS
    assert {case.tool for case in FAILURES} == PERSONA_TOOLS


@pytest.mark.parametrize("case", SUCCESSES, ids=lambda case: case.tool)
async def test_tool_succeeds_against_the_sandbox(upstream: Upstream, case: Case) -> None:
    world = await _world(upstream)
    spec = catalogue.get(case.tool)
    result = await upstream.call(case.tool, **case.args(world))
    assert isinstance(result, spec.output_model)
    spec.output_model.model_validate(result.model_dump())  # what is sent validates against its own model
    outcome = case.check(result, world)
    assert outcome is None or outcome is True, f"{case.tool}: check failed on {result!r}"
    if case.tool not in NAMES_NO_OBJECT:
        assert upstream.touched, f"{case.tool} recorded no object ids for the audit log"


@pytest.mark.parametrize("failure", FAILURES, ids=lambda failure: failure.tool)
async def test_tool_failure_is_explained_with_a_next_step(upstream: Upstream, failure: Failure) -> None:
    world = await _world(upstream)
    arguments = failure.args(world)
    if failure.fault is not None:
        upstream.state.faults.fail_next = [failure.fault]
    with pytest.raises(PersonaError) as raised:
        await upstream.call(failure.tool, **arguments)
    advice = explain(catalogue.get(failure.tool), raised.value, arguments)
    assert advice.kind == failure.kind, advice
    assert advice.retry_safe is failure.retry_safe
    if failure.kind == "not_found":
        missing = next(v for v in MISSING.values() if v in str(arguments))
        assert missing in advice.message and "use " in advice.message


async def test_list_item_id_with_another_types_prefix_is_refused_before_any_request(
    upstream: Upstream,
) -> None:
    with pytest.raises(ValueError, match="starts with lic_"):
        await upstream.call("get_list_item", type="country", list_item_id="liea_Abc123")


async def test_pages_chain_through_next_cursor(upstream: Upstream) -> None:
    first = await upstream.call("list_events", page_size=2)
    second = await upstream.call("list_events", page_size=2, after=first.next_cursor)
    assert {item.id for item in first.items}.isdisjoint(item.id for item in second.items)
