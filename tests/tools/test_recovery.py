"""Failure messages: our words, the next step, no upstream free text, no echoed personal values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from persona_mcp.persona.errors import ErrorDetail, error_for_status
from persona_mcp.server.errors import tool_error
from persona_mcp.tools import catalogue
from persona_mcp.tools.recovery import ToolFailure, explain, validation_message


def _agent_text(failure: ToolFailure) -> str:
    """What the agent reads: the message and the failure kind's retry hint."""
    block = tool_error(failure.message, kind=failure.kind, retry_safe=failure.retry_safe).content[0]
    assert block.type == "text"
    return block.text


LEAKY = ErrorDetail(
    title="name-first 'Jane Secret' is invalid",
    details="value jane.secret@example.com rejected",
    source_pointer="/data/attributes/name-first",
)


def test_unprocessable_names_the_argument_and_withholds_upstream_text() -> None:
    error = error_for_status(422, errors=[LEAKY], method="PATCH", request_id="req_Abc123")
    failure = explain(catalogue.get("update_account"), error, {"account_id": "act_X1"})
    assert failure.kind == "invalid_request" and failure.retry_safe is False
    assert "name_first" in failure.message and "req_Abc123" in failure.message
    assert "Jane" not in failure.message and "example.com" not in failure.message


def test_conflict_on_resume_says_which_statuses_allow_it() -> None:
    failure = explain(catalogue.get("resume_inquiry"), error_for_status(409, method="POST"), {})
    assert "pending or expired" in failure.message and failure.kind == "conflict"


@pytest.mark.parametrize(
    ("tool", "maybe_applied", "retry_safe", "kind"),
    [
        ("get_account", True, True, "upstream_unavailable"),
        # A write that may have been applied is never "safe", idempotent or not: check first.
        ("update_account", True, False, "outcome_unknown"),
        ("create_account", True, False, "outcome_unknown"),
        # Every attempt failed before reaching Persona (connection refused): nothing can have changed.
        ("create_account", False, True, "upstream_unavailable"),
    ],
)
def test_outages_say_whether_the_same_call_may_be_repeated(
    tool: str, maybe_applied: bool, retry_safe: bool, kind: str
) -> None:
    error = error_for_status(None, method="POST", attempts=3, maybe_applied=maybe_applied)
    failure = explain(catalogue.get(tool), error, {})
    assert (failure.retry_safe, failure.kind) == (retry_safe, kind)
    assert "3 attempts" in failure.message
    told = _agent_text(failure)
    assert ("is safe" in told) is retry_safe


def test_a_lost_answer_then_a_429_is_an_unknown_effect_with_a_way_to_check_not_a_safe_wait() -> None:
    error = error_for_status(
        429, method="POST", attempts=2, retry_after=10, maybe_applied=True, idempotency_key="key-123"
    )
    failure = explain(catalogue.get("create_account"), error, {"reference_id": "usr-1"})
    assert failure.kind == "outcome_unknown" and failure.retry_safe is False
    assert "safe" not in failure.message
    assert "list_accounts" in failure.message and "reference_id" in failure.message
    assert "key-123" in failure.message and "10 s" in failure.message


def test_rate_limit_gives_the_wait() -> None:
    failure = explain(catalogue.get("list_accounts"), error_for_status(429, retry_after=7), {})
    assert failure.retry_safe and "7 s" in failure.message


def test_forbidden_names_the_persona_permission() -> None:
    failure = explain(catalogue.get("create_webhook"), error_for_status(403), {})
    assert "webhook.write" in failure.message and not failure.retry_safe


def test_not_found_never_echoes_a_value_that_is_not_id_shaped() -> None:
    failure = explain(catalogue.get("get_account"), error_for_status(404), {"account_id": "act_x/../../y"})
    assert "../" not in failure.message


def test_validation_message_names_fields_and_patterns_without_echoing_personal_values() -> None:
    spec = catalogue.get("create_account")
    with pytest.raises(ValidationError) as raised:
        spec.input_model.model_validate(
            {"email_address": "jane.secret@@x", "country_code": "USA", "name_first": 5, "colour": "red"}
        )
    message = validation_message(spec, raised.value)
    assert "email_address must match the pattern" in message
    assert "country_code must match the pattern ^[A-Z]{2}$" in message
    assert "colour is not an argument of create_account" in message
    assert "name_first is not valid" in message
    assert "jane.secret" not in message and "USA" not in message


def test_validation_message_lists_allowed_values() -> None:
    spec = catalogue.get("create_list")
    with pytest.raises(ValidationError) as raised:
        spec.input_model.model_validate({"type": "colour", "name": "x"})
    assert "'email-address'" in validation_message(spec, raised.value)


def test_conflict_and_sandbox_hints_are_read_from_the_spec() -> None:
    spec = catalogue.get("approve_inquiry")
    failure = explain(spec, error_for_status(409, method="POST"), {})
    assert spec.conflict_hint is not None and spec.conflict_hint in failure.message
    simulate = catalogue.get("simulate_inquiry_actions")
    forbidden = explain(simulate, error_for_status(403, method="POST"), {})
    assert simulate.sandbox_only and "sandbox key" in forbidden.message
