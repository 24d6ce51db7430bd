"""One success and one failure per tool, as data: the same table can drive handlers or an MCP client.

A case names the tool, builds its arguments from the ids of a demo-seeded sandbox (`World`), and says
what must be true afterwards. Failures name the agent-facing `kind` that `recovery.explain` must give.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MISSING = {
    "account": "act_Missing000000000000000000",
    "inquiry": "inq_Missing000000000000000000",
    "session": "iqse_Missing00000000000000000",
    "list": "lst_Missing000000000000000000",
    "webhook": "wbh_Missing000000000000000000",
    "event": "evt_Missing000000000000000000",
    "name_item": "lin_Missing000000000000000000",
    "report": "rep_Missing000000000000000000",
    "case": "case_Missing00000000000000000",
    "verification": "ver_Missing000000000000000000",
}
TEMPLATE = "itmpl_SandboxDemoTemplate0000"


@dataclass
class World:
    """Ids found in the demo sandbox (and a few objects made for the tests).

    `account` (usr-1001, tagged vip) is related to `other_account` under `parent-of`.
    """

    account: str
    other_account: str
    inquiry: dict[str, str]  # status -> inquiry id
    session: str
    lists: dict[str, str]  # list type -> list id
    name_list: str
    name_item: str
    webhook: str
    event: str
    report: str = ""  # the seed's watchlist report (ready, with a match)
    case: str = ""
    verifications: dict[str, str] = field(default_factory=dict)  # type (no `verification/`) -> id
    business_verification: str = ""  # an initiated database-business verification made for the tests


Args = Callable[[World], dict[str, Any]]
#: Returns None (after its own asserts) or a bool that must be True.
Check = Callable[[Any, World], bool | None]


@dataclass(frozen=True)
class Case:
    tool: str
    args: Args
    check: Check = field(default=lambda result, world: result.id is not None)


@dataclass(frozen=True)
class Failure:
    """A call that must fail upstream; `fault` makes the sandbox answer that status instead."""

    tool: str
    args: Args
    kind: str
    fault: int | None = None
    retry_safe: bool = False


def _has(**expected: Any) -> Check:
    def check(result: Any, world: World) -> None:
        for name, value in expected.items():
            assert getattr(result, name) == value, (name, getattr(result, name), value)

    return check


SUCCESSES: tuple[Case, ...] = (
    Case(
        "list_accounts",
        lambda w: {"reference_id": "usr-1001"},
        lambda r, w: [i.id for i in r.items] == [w.account],
    ),
    Case(
        "search_accounts",
        lambda w: {"conditions": [{"attribute": "reference_id", "value": "usr-1001"}]},
        lambda r, w: w.account in [i.id for i in r.items],
    ),
    Case("get_account", lambda w: {"account_id": w.account}, _has(reference_id="usr-1001")),
    Case(
        "create_account",
        lambda w: {
            "reference_id": "usr-new",
            "name_first": "Ann",
            "birthdate": "1990-01-02",
            "country_code": "de",
        },
        lambda r, w: r.id.startswith("act_"),
    ),
    Case("update_account", lambda w: {"account_id": w.account, "name_last": "Lee"}, _has(type="account")),
    Case("redact_account", lambda w: {"account_id": w.other_account}, _has(type="account")),
    Case(
        "add_account_tag",
        lambda w: {"account_id": w.account, "tag_name": "gold"},
        lambda r, w: "gold" in r.tags,
    ),
    Case(
        "remove_account_tag",
        lambda w: {"account_id": w.account, "tag_name": "vip"},
        lambda r, w: "vip" not in r.tags,
    ),
    Case(
        "set_account_tags",
        lambda w: {"account_id": w.account, "tag_names": ["a", "b"]},
        _has(tags=["a", "b"]),
    ),
    Case(
        "consolidate_accounts", lambda w: {"account_id": w.account, "source_account_ids": [w.other_account]}
    ),
    Case(
        "list_account_relations",
        lambda w: {"account_id": w.account, "key": "parent-of"},
        lambda r, w: w.other_account in [i.id for i in r.items],
    ),
    Case(
        "add_account_relation",
        lambda w: {
            "account_id": w.account,
            "relation_schema_key": "parent-of",
            "target_object_id": w.other_account,
        },
    ),
    Case(
        "remove_account_relation",
        lambda w: {
            "account_id": w.account,
            "relation_schema_key": "parent-of",
            "target_object_id": w.other_account,
        },
    ),
    Case(
        "run_account_action",
        lambda w: {"account_id": w.account, "account_action_id": "accac_DemoAction000000000000000"},
    ),
    Case(
        "list_inquiries",
        lambda w: {"status": "approved"},
        lambda r, w: [i.status for i in r.items] == ["approved"],
    ),
    Case(
        "search_inquiries",
        lambda w: {"conditions": [{"attribute": "status", "value": "declined"}]},
        lambda r, w: [i.id for i in r.items] == [w.inquiry["declined"]],
    ),
    Case("get_inquiry", lambda w: {"inquiry_id": w.inquiry["pending"]}, _has(status="pending")),
    Case(
        "create_inquiry",
        lambda w: {"inquiry_template_id": TEMPLATE, "account_id": w.account, "one_time_link": True},
        lambda r, w: r.one_time_link is not None and r.status == "created",
    ),
    Case(
        "update_inquiry",
        lambda w: {"inquiry_id": w.inquiry["created"], "note": "checked"},
        _has(status="created"),
    ),
    Case("redact_inquiry", lambda w: {"inquiry_id": w.inquiry["failed"]}, _has(type="inquiry")),
    Case(
        "approve_inquiry",
        lambda w: {"inquiry_id": w.inquiry["completed"], "comment": "ok"},
        _has(status="approved"),
    ),
    Case("decline_inquiry", lambda w: {"inquiry_id": w.inquiry["completed"]}, _has(status="declined")),
    Case(
        "mark_inquiry_for_review",
        lambda w: {"inquiry_id": w.inquiry["completed"]},
        _has(status="needs_review"),
    ),
    Case("expire_inquiry", lambda w: {"inquiry_id": w.inquiry["pending"]}, _has(status="expired")),
    Case("resume_inquiry", lambda w: {"inquiry_id": w.inquiry["expired"]}, _has(status="pending")),
    Case(
        "generate_inquiry_link",
        lambda w: {"inquiry_id": w.inquiry["created"], "expires_in_seconds": 600},
        lambda r, w: r.one_time_link is not None,
    ),
    Case("print_inquiry_pdf", lambda w: {"inquiry_id": w.inquiry["approved"]}, lambda r, w: r.size > 0),
    Case(
        "add_inquiry_tag", lambda w: {"inquiry_id": w.inquiry["created"], "tag_name": "x"}, _has(tags=["x"])
    ),
    Case(
        "remove_inquiry_tag", lambda w: {"inquiry_id": w.inquiry["created"], "tag_name": "x"}, _has(tags=[])
    ),
    Case(
        "set_inquiry_tags",
        lambda w: {"inquiry_id": w.inquiry["created"], "tag_names": ["y"]},
        _has(tags=["y"]),
    ),
    Case(
        "simulate_inquiry_actions",
        lambda w: {"inquiry_id": w.inquiry["created"], "actions": [{"type": "start_inquiry"}]},
        _has(status="pending"),
    ),
    Case(
        "set_inquiry_simulate_stubs",
        lambda w: {"inquiry_id": w.inquiry["created"], "name_first": "Q", "address_country_code": "us"},
    ),
    Case(
        "list_inquiry_sessions",
        lambda w: {"inquiry_id": w.inquiry["pending"]},
        lambda r, w: len(r.items) >= 1,
    ),
    Case("get_inquiry_session", lambda w: {"inquiry_session_id": w.session}, lambda r, w: r.id == w.session),
    Case("create_inquiry_session", lambda w: {"inquiry_id": w.inquiry["pending"]}, _has(status="new")),
    Case("expire_inquiry_session", lambda w: {"inquiry_session_id": w.session}, _has(status="expired")),
    Case(
        "expire_all_inquiry_sessions",
        lambda w: {"inquiry_ids": [w.inquiry["pending"]]},
        lambda r, w: all(i.status == "expired" for i in r.items),
    ),
    Case("generate_inquiry_session_link", lambda w: {"inquiry_session_id": w.session}),
    Case("list_lists", lambda w: {"status": "active"}, lambda r, w: len(r.items) >= 4),
    Case("get_list", lambda w: {"list_id": w.lists["email-address"]}, _has(type="list/email-address")),
    Case("create_list", lambda w: {"type": "ip-address", "name": "Bad IPs"}, _has(type="list/ip-address")),
    Case("archive_list", lambda w: {"list_id": w.lists["country"]}, _has(status="archived")),
    Case(
        "create_list_item",
        lambda w: {
            "type": "email-address",
            "list_id": w.lists["email-address"],
            "value": "x@example.org",
            "match_type": "email_address",
        },
        _has(type="list-item/email-address"),
    ),
    Case("get_list_item", lambda w: {"type": "name", "list_item_id": w.name_item}, _has(name_first="Bo")),
    Case(
        "archive_list_item", lambda w: {"type": "name", "list_item_id": w.name_item}, _has(status="archived")
    ),
    Case("list_webhooks", lambda w: {}, lambda r, w: [i.id for i in r.items] == [w.webhook]),
    Case("get_webhook", lambda w: {"webhook_id": w.webhook}, _has(status="enabled")),
    Case(
        "create_webhook",
        lambda w: {"name": "h", "url": "https://example.com/h", "enabled_events": ["inquiry.approved"]},
        _has(type="webhook"),
    ),
    Case("update_webhook", lambda w: {"webhook_id": w.webhook, "name": "renamed"}, _has(type="webhook")),
    Case("archive_webhook", lambda w: {"webhook_id": w.webhook}, _has(status="archived")),
    Case(
        "set_webhook_enabled", lambda w: {"webhook_id": w.webhook, "enabled": False}, _has(status="disabled")
    ),
    Case("rotate_webhook_secret", lambda w: {"webhook_id": w.webhook, "expires_in_seconds": 60}),
    Case("clone_webhook", lambda w: {"webhook_id": w.webhook}, lambda r, w: r.id != w.webhook),
    Case(
        "list_events",
        lambda w: {"page_size": 2},
        lambda r, w: len(r.items) == 2 and r.next_cursor is not None,
    ),
    Case("get_event", lambda w: {"event_id": w.event}, lambda r, w: r.name is not None),
)

BUSINESS = {
    "business_name": "Acme Corporation",
    "address_country_code": "US",
    "verification_template_id": "vtmpl_SandboxDatabaseBusiness",
}

SUCCESSES += (
    Case(
        "list_reports", lambda w: {"account_id": w.account}, lambda r, w: w.report in [i.id for i in r.items]
    ),
    Case(
        "get_report",
        lambda w: {"report_id": w.report},
        lambda r, w: r.has_match and bool(r.findings["matched-lists"]),
    ),
    Case(
        "create_report",
        lambda w: {
            "report_type": "watchlist",
            "name_first": "Jane",
            "country_code": "us",
            "account_id": w.account,
        },
        _has(status="pending", type="report/watchlist"),
    ),
    Case("rerun_report", lambda w: {"report_id": w.report}, _has(status="pending")),
    Case(
        "list_report_history",
        lambda w: {"report_id": w.report},
        lambda r, w: [i.type for i in r.items] == ["run"] and r.items[0].run_type == "manual",
    ),
    Case(
        "print_report_pdf", lambda w: {"report_id": w.report}, lambda r, w: r.mime_type == "application/pdf"
    ),
    Case(
        "dismiss_report_matches",
        lambda w: {"report_id": w.report, "reason": "Different birthdate"},
        _has(has_match=False),
    ),
    Case(
        "set_report_monitoring",
        lambda w: {"report_id": w.report, "paused": True},
        _has(type="report/watchlist"),
    ),
    Case("redact_report", lambda w: {"report_id": w.report}, _has(type="report/watchlist")),
    Case(
        "tag_report",
        lambda w: {"report_id": w.report, "mode": "add", "tag_names": ["screened"]},
        _has(tags=["screened"]),
    ),
    Case(
        "list_cases",
        lambda w: {"inquiry_id": w.inquiry["needs_review"]},
        lambda r, w: [i.id for i in r.items] == [w.case],
    ),
    Case(
        "search_cases",
        lambda w: {"conditions": [{"attribute": "status", "value": "open"}]},
        lambda r, w: w.case in [i.id for i in r.items],
    ),
    Case(
        "get_case",
        lambda w: {"case_id": w.case},
        lambda r, w: r.report_ids == [w.report] and r.account_ids == [w.account],
    ),
    Case(
        "create_case",
        lambda w: {
            "case_template_id": "ctmpl_Review1",
            "object_ids": [w.inquiry["declined"]],
            "fields": {"note": "x"},
        },
        _has(status="open", type="case"),
    ),
    Case("update_case", lambda w: {"case_id": w.case, "sla_expires_in_seconds": 7200}, _has(type="case")),
    Case(
        "assign_case", lambda w: {"case_id": w.case, "user_email_address": "r@example.com"}, _has(type="case")
    ),
    Case("set_case_status", lambda w: {"case_id": w.case, "status": "Declined"}, _has(status="Declined")),
    Case(
        "attach_case_objects",
        lambda w: {"case_id": w.case, "object_ids": [w.verifications["selfie"]]},
        _has(type="case"),
    ),
    Case("redact_case", lambda w: {"case_id": w.case}, _has(type="case")),
    Case("tag_case", lambda w: {"case_id": w.case, "mode": "set", "tag_names": ["kyc"]}, _has(tags=["kyc"])),
    Case(
        "get_verification",
        lambda w: {"verification_id": w.verifications["aamva"], "verification_type": "aamva"},
        lambda r, w: r.type == "verification/aamva" and r.status == "passed" and bool(r.details),
    ),
    Case(
        "print_verification_pdf",
        lambda w: {"verification_id": w.verifications["selfie"]},
        lambda r, w: r.mime_type == "application/pdf",
    ),
    Case(
        "set_verification_lock",
        lambda w: {"verification_id": w.verifications["database"], "locked": True},
        _has(status="passed"),
    ),
    Case(
        "redact_verification",
        lambda w: {"verification_id": w.verifications["document"]},
        _has(status="passed"),
    ),
    Case("create_business_verification", lambda w: dict(BUSINESS), _has(status="initiated")),
    Case(
        "update_business_verification",
        lambda w: {"verification_id": w.business_verification, "registration_number": "C1"},
        _has(status="initiated"),
    ),
    Case(
        "submit_business_verification",
        lambda w: {"verification_id": w.business_verification},
        _has(status="passed"),
    ),
)

FAILURES: tuple[Failure, ...] = (
    Failure("list_accounts", lambda w: {}, "upstream_unavailable", fault=503, retry_safe=True),
    Failure(
        "search_accounts",
        lambda w: {"conditions": [{"attribute": "status", "value": "x"}]},
        "upstream_unavailable",
        fault=502,
        retry_safe=True,
    ),
    Failure("get_account", lambda w: {"account_id": MISSING["account"]}, "not_found"),
    Failure("create_account", lambda w: {"reference_id": "usr-x"}, "outcome_unknown", fault=500),
    Failure("update_account", lambda w: {"account_id": MISSING["account"], "name_first": "A"}, "not_found"),
    Failure("redact_account", lambda w: {"account_id": MISSING["account"]}, "not_found"),
    Failure("add_account_tag", lambda w: {"account_id": MISSING["account"], "tag_name": "x"}, "not_found"),
    Failure("remove_account_tag", lambda w: {"account_id": MISSING["account"], "tag_name": "x"}, "not_found"),
    Failure(
        "set_account_tags",
        lambda w: {"account_id": w.account, "tag_names": []},
        "rate_limited",
        fault=429,
        retry_safe=True,
    ),
    Failure(
        "consolidate_accounts",
        lambda w: {"account_id": w.account, "source_account_ids": [MISSING["account"]]},
        "not_found",
    ),
    Failure("list_account_relations", lambda w: {"account_id": MISSING["account"]}, "not_found"),
    Failure(
        "add_account_relation",
        lambda w: {
            "account_id": MISSING["account"],
            "relation_schema_key": "parent-of",
            "target_object_id": w.account,
        },
        "not_found",
    ),
    Failure(
        "remove_account_relation",
        lambda w: {
            "account_id": MISSING["account"],
            "relation_schema_key": "parent-of",
            "target_object_id": w.account,
        },
        "not_found",
    ),
    Failure(
        "run_account_action",
        lambda w: {"account_id": MISSING["account"], "account_action_id": "accac_DemoAction000000000000000"},
        "not_found",
    ),
    Failure("list_inquiries", lambda w: {}, "upstream_unavailable", fault=503, retry_safe=True),
    Failure(
        "search_inquiries",
        lambda w: {"conditions": [{"attribute": "status", "value": "x"}]},
        "upstream_unavailable",
        fault=503,
        retry_safe=True,
    ),
    Failure("get_inquiry", lambda w: {"inquiry_id": MISSING["inquiry"]}, "not_found"),
    Failure("create_inquiry", lambda w: {"inquiry_template_id": TEMPLATE}, "outcome_unknown", fault=503),
    Failure("update_inquiry", lambda w: {"inquiry_id": MISSING["inquiry"], "note": "n"}, "not_found"),
    Failure("redact_inquiry", lambda w: {"inquiry_id": MISSING["inquiry"]}, "not_found"),
    Failure("approve_inquiry", lambda w: {"inquiry_id": MISSING["inquiry"]}, "not_found"),
    Failure("decline_inquiry", lambda w: {"inquiry_id": MISSING["inquiry"]}, "not_found"),
    Failure("mark_inquiry_for_review", lambda w: {"inquiry_id": w.inquiry["approved"]}, "conflict"),
    Failure("expire_inquiry", lambda w: {"inquiry_id": MISSING["inquiry"]}, "not_found"),
    Failure("resume_inquiry", lambda w: {"inquiry_id": w.inquiry["approved"]}, "conflict"),
    Failure("generate_inquiry_link", lambda w: {"inquiry_id": MISSING["inquiry"]}, "not_found"),
    Failure("print_inquiry_pdf", lambda w: {"inquiry_id": MISSING["inquiry"]}, "not_found"),
    Failure("add_inquiry_tag", lambda w: {"inquiry_id": MISSING["inquiry"], "tag_name": "x"}, "not_found"),
    Failure("remove_inquiry_tag", lambda w: {"inquiry_id": MISSING["inquiry"], "tag_name": "x"}, "not_found"),
    Failure("set_inquiry_tags", lambda w: {"inquiry_id": MISSING["inquiry"], "tag_names": []}, "not_found"),
    Failure(
        "simulate_inquiry_actions",
        lambda w: {"inquiry_id": MISSING["inquiry"], "actions": [{"type": "start_inquiry"}]},
        "not_found",
    ),
    Failure(
        "set_inquiry_simulate_stubs",
        lambda w: {"inquiry_id": MISSING["inquiry"], "name_first": "Q"},
        "not_found",
    ),
    Failure("list_inquiry_sessions", lambda w: {}, "upstream_unavailable", fault=500, retry_safe=True),
    Failure("get_inquiry_session", lambda w: {"inquiry_session_id": MISSING["session"]}, "not_found"),
    Failure("create_inquiry_session", lambda w: {"inquiry_id": MISSING["inquiry"]}, "not_found"),
    Failure("expire_inquiry_session", lambda w: {"inquiry_session_id": MISSING["session"]}, "not_found"),
    # A 503 may come after Persona applied the write: even an idempotent one is "check first", not "safe".
    Failure(
        "expire_all_inquiry_sessions",
        lambda w: {"inquiry_ids": [w.inquiry["pending"]]},
        "outcome_unknown",
        fault=503,
    ),
    Failure(
        "generate_inquiry_session_link", lambda w: {"inquiry_session_id": MISSING["session"]}, "not_found"
    ),
    Failure("list_lists", lambda w: {}, "upstream_unavailable", fault=503, retry_safe=True),
    Failure("get_list", lambda w: {"list_id": MISSING["list"]}, "not_found"),
    Failure("create_list", lambda w: {"type": "name", "name": "n"}, "outcome_unknown", fault=502),
    Failure("archive_list", lambda w: {"list_id": MISSING["list"]}, "not_found"),
    Failure(
        "create_list_item",
        lambda w: {"type": "country", "list_id": MISSING["list"], "country_code": "FR"},
        "not_found",
    ),
    Failure("get_list_item", lambda w: {"type": "name", "list_item_id": MISSING["name_item"]}, "not_found"),
    Failure(
        "archive_list_item", lambda w: {"type": "name", "list_item_id": MISSING["name_item"]}, "not_found"
    ),
    Failure("list_webhooks", lambda w: {}, "rate_limited", fault=429, retry_safe=True),
    Failure("get_webhook", lambda w: {"webhook_id": MISSING["webhook"]}, "not_found"),
    Failure(
        "create_webhook",
        lambda w: {"name": "h", "url": "https://example.com/h", "enabled_events": ["inquiry.approved"]},
        "outcome_unknown",
        fault=500,
    ),
    Failure("update_webhook", lambda w: {"webhook_id": MISSING["webhook"], "name": "n"}, "not_found"),
    Failure("archive_webhook", lambda w: {"webhook_id": MISSING["webhook"]}, "not_found"),
    Failure(
        "set_webhook_enabled", lambda w: {"webhook_id": MISSING["webhook"], "enabled": True}, "not_found"
    ),
    Failure("rotate_webhook_secret", lambda w: {"webhook_id": MISSING["webhook"]}, "not_found"),
    Failure("clone_webhook", lambda w: {"webhook_id": MISSING["webhook"]}, "not_found"),
    Failure("list_events", lambda w: {}, "upstream_unavailable", fault=503, retry_safe=True),
    Failure("get_event", lambda w: {"event_id": MISSING["event"]}, "not_found"),
    Failure("list_reports", lambda w: {}, "rate_limited", fault=429, retry_safe=True),
    Failure("get_report", lambda w: {"report_id": MISSING["report"]}, "not_found"),
    Failure(
        "create_report", lambda w: {"report_type": "watchlist", "term": "J"}, "outcome_unknown", fault=502
    ),
    Failure("rerun_report", lambda w: {"report_id": MISSING["report"]}, "not_found"),
    Failure("list_report_history", lambda w: {"report_id": MISSING["report"]}, "not_found"),
    Failure("print_report_pdf", lambda w: {"report_id": MISSING["report"]}, "not_found"),
    Failure("dismiss_report_matches", lambda w: {"report_id": MISSING["report"], "reason": "r"}, "not_found"),
    Failure("set_report_monitoring", lambda w: {"report_id": MISSING["report"], "paused": True}, "not_found"),
    Failure("redact_report", lambda w: {"report_id": MISSING["report"]}, "not_found"),
    Failure(
        "tag_report", lambda w: {"report_id": MISSING["report"], "mode": "set", "tag_names": []}, "not_found"
    ),
    Failure("list_cases", lambda w: {}, "upstream_unavailable", fault=503, retry_safe=True),
    Failure(
        "search_cases",
        lambda w: {"conditions": [{"attribute": "status", "value": "open"}]},
        "rate_limited",
        fault=429,
        retry_safe=True,
    ),
    Failure("get_case", lambda w: {"case_id": MISSING["case"]}, "not_found"),
    Failure("create_case", lambda w: {"case_template_id": "ctmpl_R1"}, "outcome_unknown", fault=500),
    Failure("update_case", lambda w: {"case_id": MISSING["case"], "sla_expires_in_seconds": 60}, "not_found"),
    Failure(
        "assign_case",
        lambda w: {"case_id": MISSING["case"], "user_email_address": "r@example.com"},
        "not_found",
    ),
    Failure("set_case_status", lambda w: {"case_id": MISSING["case"], "status": "Approved"}, "not_found"),
    Failure(
        "attach_case_objects", lambda w: {"case_id": MISSING["case"], "object_ids": [w.account]}, "not_found"
    ),
    Failure("redact_case", lambda w: {"case_id": MISSING["case"]}, "not_found"),
    Failure(
        "tag_case", lambda w: {"case_id": MISSING["case"], "mode": "add", "tag_names": ["x"]}, "not_found"
    ),
    Failure("get_verification", lambda w: {"verification_id": MISSING["verification"]}, "not_found"),
    Failure("print_verification_pdf", lambda w: {"verification_id": MISSING["verification"]}, "not_found"),
    Failure(
        "set_verification_lock",
        lambda w: {"verification_id": MISSING["verification"], "locked": False},
        "not_found",
    ),
    Failure("redact_verification", lambda w: {"verification_id": MISSING["verification"]}, "not_found"),
    Failure("create_business_verification", lambda w: dict(BUSINESS), "outcome_unknown", fault=502),
    Failure(
        "update_business_verification",
        lambda w: {"verification_id": MISSING["verification"], "business_name": "B"},
        "not_found",
    ),
    Failure(
        "submit_business_verification", lambda w: {"verification_id": MISSING["verification"]}, "not_found"
    ),
)


def _with_second_tier() -> None:
    """Join the second-tier families' cases (kept in their own module) to the tables above."""
    global SUCCESSES, FAILURES
    from . import cases_second_tier as second

    MISSING.update(second.MISSING_SECOND_TIER)
    SUCCESSES = (*SUCCESSES, *second.SUCCESSES)
    FAILURES = (*FAILURES, *second.FAILURES)


_with_second_tier()
