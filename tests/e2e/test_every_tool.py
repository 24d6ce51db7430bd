"""Every tool in the catalogue, called through the MCP client: one success and one explained failure each.

A single server (grant holding every scope) serves the whole module; before each call the sandbox is
reset to the demo seed, whose ids are the same every time, so no case depends on another. Successful
`structured_content` is validated against the tool's output schema as `tools/list` declares it (write
tools declare none to keep the listing small; their content is checked against the schema the server
derives from the same output model). Failures are either a well-formed id that does not exist (the
message must name the id and a list/search tool to find the right one) or an invalid argument (the
message must name the field).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
import mcp_types as types
import pytest

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import PREFIXES, ObjectKind
from persona_mcp.sandbox import SandboxState
from persona_mcp.sandbox.seed import DEMO_IDS, DEMO_TEMPLATE_ID
from persona_mcp.testing import Harness, approvals_waived, connected
from persona_mcp.tools import CATALOGUE, catalogue
from persona_mcp.tools.mcp_schema import input_schema

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class World:
    """Ids of the demo seed (identical after every reset)."""

    account: str
    other_account: str
    inquiry: dict[str, str]  # status -> id
    session: str
    lists: dict[str, str]  # list type -> id
    email_item: str
    webhook: str
    event: str
    report: str  # the seed's ready watchlist report (it has a match)
    case: str
    verifications: dict[str, str]  # verification type (without `verification/`) -> id


def _world(h: Harness) -> World:
    return world_of(h.sandbox)


def world_of(sandbox: SandboxState) -> World:
    """The demo seed's ids in a sandbox (also read by the TypeScript-client tests)."""
    records = list(sandbox.records.values())

    def first(type_: str, **attributes: str) -> str:
        return next(
            r.id
            for r in records
            if r.type == type_ and all(r.attributes.get(k) == v for k, v in attributes.items())
        )

    return World(
        account=first("account", **{"reference-id": "usr-1001"}),
        other_account=first("account", **{"reference-id": "usr-1002"}),
        inquiry={r.attributes["status"]: r.id for r in records if r.type == "inquiry"},
        session=first("inquiry-session", status="active"),
        lists={r.type.removeprefix("list/"): r.id for r in records if r.type.startswith("list/")},
        email_item=first("list-item/email-address", value="fraud@example.com"),
        webhook=first("webhook"),
        event=sandbox.events[0].id,
        report=first("report/watchlist"),
        case=first("case"),
        verifications={
            r.type.removeprefix("verification/"): r.id for r in records if r.type.startswith("verification/")
        },
    )


Args = Callable[[World], dict[str, Any]]


def _missing(kind: ObjectKind) -> str:
    """A well-formed id of `kind` that the sandbox never issued."""
    return f"{PREFIXES[kind][0]}_Missing0000000000000000"


def _account_action_id() -> str:
    """An account action id in the shape run_account_action accepts (its prefix, from its own schema)."""
    pattern = input_schema(catalogue.get("run_account_action"))["properties"]["account_action_id"]["pattern"]
    prefixes = re.match(r"\^(?:\(\?:)?([a-z|]+)\)?_", pattern)
    assert prefixes is not None, pattern
    return f"{prefixes.group(1).split('|')[0]}_DemoAction0000000000"


ACTION_ID = _account_action_id()
PDF = b"%PDF-1.4 statement"
JPEG = b"\xff\xd8\xff\xe0 face"
EMAIL_CSV = b"value,match_type\nnew@example.org,email_address\nexample.com,domain\n"
ACCOUNTS_CSV = b"reference_id,name_first,name_last\nusr-9001,Zoe,Park\n"


def _b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def _embedded(uri: str, content: bytes, *, text: bool = False) -> dict[str, Any]:
    """An MCP embedded resource as a client passes one on (text, or a base64 blob)."""
    body = {"text": content.decode()} if text else {"blob": _b64(content)}
    return {
        "type": "resource",
        "resource": {"uri": uri, "mimeType": "text/csv" if text else "application/pdf", **body},
    }


NO_ACCOUNT, NO_INQUIRY = _missing(ObjectKind.ACCOUNT), _missing(ObjectKind.INQUIRY)
NO_SESSION, NO_LIST = _missing(ObjectKind.INQUIRY_SESSION), _missing(ObjectKind.LIST)
NO_WEBHOOK, NO_EVENT = _missing(ObjectKind.WEBHOOK), _missing(ObjectKind.EVENT)
NO_EMAIL_ITEM = "liea_Missing0000000000000000"
NO_REPORT, NO_CASE = _missing(ObjectKind.REPORT), _missing(ObjectKind.CASE)
NO_VERIFICATION = _missing(ObjectKind.VERIFICATION)
#: Stands for the id of the object the PREPARE call made (replaced before the call).
PREPARED = "ver_Prepared"
BUSINESS = {
    "business_name": "Acme Corporation",
    "address_country_code": "US",
    "verification_template_id": "vtmpl_SandboxDatabaseBusiness",
}
NO_TRANSACTION, NO_API_LOG = _missing(ObjectKind.TRANSACTION), _missing(ObjectKind.API_LOG)
NO_USER_AUDIT_LOG, NO_IMPORTER = _missing(ObjectKind.USER_AUDIT_LOG), _missing(ObjectKind.IMPORTER)
NO_WORKFLOW, NO_WORKFLOW_RUN = _missing(ObjectKind.WORKFLOW), _missing(ObjectKind.WORKFLOW_RUN)
NO_TEMPLATE, NO_DEVICE = _missing(ObjectKind.INQUIRY_TEMPLATE), _missing(ObjectKind.DEVICE)


@dataclass(frozen=True)
class NotFound:
    """Call with an unknown id; the answer names it and a tool that finds real ones."""

    args: Args
    missing: str


@dataclass(frozen=True)
class Invalid:
    """Call with an argument the input model refuses; the answer names the field."""

    args: Args
    field: str


Failure = NotFound | Invalid

#: tool -> arguments that succeed against the demo seed.
SUCCESS: dict[str, Args] = {
    "list_accounts": lambda w: {"reference_id": "usr-1001"},
    "search_accounts": lambda w: {"conditions": [{"attribute": "reference_id", "value": "usr-1001"}]},
    "get_account": lambda w: {"account_id": w.account},
    "create_account": lambda w: {"reference_id": "usr-new", "name_first": "Ann", "country_code": "DE"},
    "update_account": lambda w: {"account_id": w.account, "name_last": "Lee"},
    "redact_account": lambda w: {"account_id": w.other_account},
    "add_account_tag": lambda w: {"account_id": w.account, "tag_name": "gold"},
    "remove_account_tag": lambda w: {"account_id": w.account, "tag_name": "vip"},
    "set_account_tags": lambda w: {"account_id": w.account, "tag_names": ["a", "b"]},
    "consolidate_accounts": lambda w: {"account_id": w.account, "source_account_ids": [w.other_account]},
    "list_account_relations": lambda w: {"account_id": w.account},
    "add_account_relation": lambda w: {
        "account_id": w.account,
        "relation_schema_key": "parent-of",
        "target_object_id": w.other_account,
    },
    # Needs a relation to remove: see PREPARE.
    "remove_account_relation": lambda w: {
        "account_id": w.account,
        "relation_schema_key": "parent-of",
        "target_object_id": w.other_account,
    },
    "run_account_action": lambda w: {"account_id": w.account, "account_action_id": ACTION_ID},
    "list_inquiries": lambda w: {"status": "approved"},
    "search_inquiries": lambda w: {"conditions": [{"attribute": "status", "value": "declined"}]},
    "get_inquiry": lambda w: {"inquiry_id": w.inquiry["pending"]},
    "create_inquiry": lambda w: {"inquiry_template_id": DEMO_TEMPLATE_ID, "account_id": w.account},
    "update_inquiry": lambda w: {"inquiry_id": w.inquiry["created"], "note": "checked"},
    "redact_inquiry": lambda w: {"inquiry_id": w.inquiry["failed"]},
    "approve_inquiry": lambda w: {"inquiry_id": w.inquiry["completed"], "comment": "ok"},
    "decline_inquiry": lambda w: {"inquiry_id": w.inquiry["completed"]},
    "mark_inquiry_for_review": lambda w: {"inquiry_id": w.inquiry["completed"]},
    "expire_inquiry": lambda w: {"inquiry_id": w.inquiry["pending"]},
    "resume_inquiry": lambda w: {"inquiry_id": w.inquiry["expired"]},
    "generate_inquiry_link": lambda w: {"inquiry_id": w.inquiry["created"], "expires_in_seconds": 600},
    "print_inquiry_pdf": lambda w: {"inquiry_id": w.inquiry["approved"]},
    "add_inquiry_tag": lambda w: {"inquiry_id": w.inquiry["created"], "tag_name": "x"},
    "remove_inquiry_tag": lambda w: {"inquiry_id": w.inquiry["created"], "tag_name": "x"},
    "set_inquiry_tags": lambda w: {"inquiry_id": w.inquiry["created"], "tag_names": ["y"]},
    "simulate_inquiry_actions": lambda w: {
        "inquiry_id": w.inquiry["created"],
        "actions": [{"type": "start_inquiry"}],
    },
    "set_inquiry_simulate_stubs": lambda w: {"inquiry_id": w.inquiry["created"], "name_first": "Q"},
    "list_inquiry_sessions": lambda w: {"inquiry_id": w.inquiry["pending"]},
    "get_inquiry_session": lambda w: {"inquiry_session_id": w.session},
    "create_inquiry_session": lambda w: {"inquiry_id": w.inquiry["pending"]},
    "expire_inquiry_session": lambda w: {"inquiry_session_id": w.session},
    "expire_all_inquiry_sessions": lambda w: {"inquiry_ids": [w.inquiry["pending"]]},
    "generate_inquiry_session_link": lambda w: {"inquiry_session_id": w.session},
    "list_lists": lambda w: {"status": "active"},
    "get_list": lambda w: {"list_id": w.lists["email-address"]},
    "create_list": lambda w: {"type": "ip-address", "name": "Bad IPs"},
    "archive_list": lambda w: {"list_id": w.lists["country"]},
    "create_list_item": lambda w: {
        "type": "email-address",
        "list_id": w.lists["email-address"],
        "value": "x@example.org",
        "match_type": "email_address",
    },
    "get_list_item": lambda w: {"type": "email-address", "list_item_id": w.email_item},
    "archive_list_item": lambda w: {"type": "email-address", "list_item_id": w.email_item},
    "list_webhooks": lambda w: {},
    "get_webhook": lambda w: {"webhook_id": w.webhook},
    "create_webhook": lambda w: {
        "name": "h",
        "url": "https://example.com/h",
        "enabled_events": ["inquiry.approved"],
    },
    "update_webhook": lambda w: {"webhook_id": w.webhook, "name": "renamed"},
    "archive_webhook": lambda w: {"webhook_id": w.webhook},
    "set_webhook_enabled": lambda w: {"webhook_id": w.webhook, "enabled": False},
    "rotate_webhook_secret": lambda w: {"webhook_id": w.webhook, "expires_in_seconds": 60},
    "clone_webhook": lambda w: {"webhook_id": w.webhook},
    "list_events": lambda w: {"page_size": 2},
    "get_event": lambda w: {"event_id": w.event},
    "wait_for_inquiry": lambda w: {"inquiry_id": w.inquiry["approved"], "statuses": ["approved"]},
    "list_reports": lambda w: {"account_id": w.account},
    "get_report": lambda w: {"report_id": w.report},
    "create_report": lambda w: {"report_type": "adverse-media", "term": "Jane Doe", "account_id": w.account},
    "rerun_report": lambda w: {"report_id": w.report},
    "list_report_history": lambda w: {"report_id": w.report},
    "print_report_pdf": lambda w: {"report_id": w.report},
    "dismiss_report_matches": lambda w: {"report_id": w.report, "reason": "Different person"},
    "set_report_monitoring": lambda w: {"report_id": w.report, "paused": True},
    "redact_report": lambda w: {"report_id": w.report},
    "tag_report": lambda w: {"report_id": w.report, "mode": "add", "tag_names": ["screened"]},
    "wait_for_report": lambda w: {"report_id": w.report},
    "list_cases": lambda w: {"status": "open"},
    "search_cases": lambda w: {"conditions": [{"attribute": "status", "value": "open"}]},
    "get_case": lambda w: {"case_id": w.case},
    "create_case": lambda w: {"case_template_id": "ctmpl_Review1", "object_ids": [w.inquiry["declined"]]},
    "update_case": lambda w: {"case_id": w.case, "fields": {"priority": "high"}},
    "assign_case": lambda w: {"case_id": w.case, "user_email_address": "reviewer@example.com"},
    "set_case_status": lambda w: {"case_id": w.case, "status": "Approved"},
    "attach_case_objects": lambda w: {"case_id": w.case, "object_ids": [w.verifications["selfie"]]},
    "redact_case": lambda w: {"case_id": w.case},
    "tag_case": lambda w: {"case_id": w.case, "mode": "set", "tag_names": ["kyc"]},
    "get_verification": lambda w: {"verification_id": w.verifications["government-id"]},
    "print_verification_pdf": lambda w: {"verification_id": w.verifications["selfie"]},
    "set_verification_lock": lambda w: {"verification_id": w.verifications["database"], "locked": True},
    "redact_verification": lambda w: {"verification_id": w.verifications["document"]},
    "create_business_verification": lambda w: dict(BUSINESS),
    # Needs a database-business verification: see PREPARE (its id is the only one of its type).
    "update_business_verification": lambda w: {"verification_id": PREPARED, "registration_number": "C1"},
    "submit_business_verification": lambda w: {"verification_id": PREPARED},
    "query_audit_log": lambda w: {"tool": "get_account", "limit": 5},
    "verify_audit_log": lambda w: {},
    # -- second tier (issue 19): the demo seed pins these objects' ids (sandbox.seed.DEMO_IDS) ----------
    "get_document": lambda w: {"document_id": DEMO_IDS["government-id"]},
    "create_generic_document": lambda w: {
        "document_kind": "bank_statement",
        "inquiry_id": w.inquiry["pending"],
        "files": [{"filename": "statement.pdf", "resource": _embedded("file:///statement.pdf", PDF)}],
    },
    "update_generic_document": lambda w: {
        "document_id": DEMO_IDS["draft-generic-document"],
        "files": [{"filename": "bill.pdf", "base64": _b64(PDF)}],
    },
    "create_government_id_document": lambda w: {
        "inquiry_id": w.inquiry["pending"],
        "country_code": "us",
        "id_class": "dl",
        "front_photo": {"filename": "front.jpg", "base64": _b64(JPEG)},
    },
    "update_government_id_document": lambda w: {
        "document_id": DEMO_IDS["draft-government-id"],
        "back_photo": {"filename": "back.jpg", "base64": _b64(JPEG)},
    },
    "submit_document": lambda w: {"document_id": DEMO_IDS["draft-generic-document"], "kind": "generic"},
    "list_transactions": lambda w: {"reference_id": "txn-ref-1"},
    "get_transaction": lambda w: {"transaction_id": DEMO_IDS["transaction"]},
    "create_transaction": lambda w: {
        "transaction_type_id": DEMO_IDS["transaction-type"],
        "reference_id": "order-77",
        "fields": {"amount": 120},
    },
    "update_transaction": lambda w: {"transaction_id": DEMO_IDS["transaction"], "status": "approved"},
    "redact_transaction": lambda w: {"transaction_id": DEMO_IDS["transaction"]},
    "redact_transaction_biometrics": lambda w: {"transaction_id": DEMO_IDS["transaction"]},
    "label_transaction": lambda w: {
        "transaction_id": DEMO_IDS["transaction"],
        "label": "fraud",
        "score": 0.9,
    },
    "add_transaction_tag": lambda w: {"transaction_id": DEMO_IDS["transaction"], "tag_name": "review"},
    "remove_transaction_tag": lambda w: {"transaction_id": DEMO_IDS["transaction"], "tag_name": "payout"},
    "set_transaction_tags": lambda w: {"transaction_id": DEMO_IDS["transaction"], "tag_names": ["a"]},
    "add_transaction_relation": lambda w: {
        "transaction_id": DEMO_IDS["transaction"],
        "relation_schema_key": "made-by",
        "target_object_id": w.other_account,
    },
    "remove_transaction_relation": lambda w: {
        "transaction_id": DEMO_IDS["transaction"],
        "relation_schema_key": "made-by",
        "target_object_id": w.account,
    },
    "list_api_logs": lambda w: {"page_size": 5},
    "get_api_log": lambda w: {"api_log_id": DEMO_IDS["api-log"]},
    "list_user_audit_logs": lambda w: {},
    "get_user_audit_log": lambda w: {"user_audit_log_id": DEMO_IDS["user-audit-log"]},
    "list_importers": lambda w: {},
    "get_importer": lambda w: {"importer_id": DEMO_IDS["importer"]},
    "import_list_items": lambda w: {
        "type": "email-address",
        "list_id": w.lists["email-address"],
        "csv": {
            "filename": "blocked.csv",
            "resource": _embedded("file:///blocked.csv", EMAIL_CSV, text=True),
        },
    },
    "import_accounts": lambda w: {"csv": {"filename": "users.csv", "base64": _b64(ACCOUNTS_CSV)}},
    "import_faces": lambda w: {
        "list_id": w.lists["email-address"],
        "images": [{"filename": "face.jpg", "base64": _b64(JPEG)}],
    },
    "trigger_workflow": lambda w: {"workflow_id": DEMO_IDS["workflow"], "fields": {"account_id": w.account}},
    "list_workflow_runs": lambda w: {"status": "completed"},
    "get_workflow_run": lambda w: {"workflow_run_id": DEMO_IDS["workflow-run"]},
    "list_workflow_versions": lambda w: {"workflow_id": DEMO_IDS["workflow"]},
    "list_inquiry_templates": lambda w: {},
    "get_inquiry_template": lambda w: {"inquiry_template_id": DEMO_TEMPLATE_ID},
    "list_inquiry_template_versions": lambda w: {"inquiry_template_id": DEMO_TEMPLATE_ID},
    "get_inquiry_template_translations": lambda w: {"inquiry_template_id": DEMO_TEMPLATE_ID},
    "import_inquiry_template_translations": lambda w: {
        "inquiry_template_id": DEMO_TEMPLATE_ID,
        "translations": [
            {
                "step": "start",
                "component": "title",
                "attribute_name": "text",
                "locale_values": [{"locale": "de", "value": "Los geht's"}],
            }
        ],
    },
    "list_devices": lambda w: {"inquiry_session_id": w.session},
    "get_device": lambda w: {"device_id": DEMO_IDS["device"]},
    "list_rate_limits": lambda w: {},
}

#: tool -> a call made first, so that the success case has something to act on.
PREPARE: dict[str, tuple[str, Args]] = {
    "remove_account_relation": ("add_account_relation", SUCCESS["add_account_relation"]),
    "update_business_verification": ("create_business_verification", SUCCESS["create_business_verification"]),
    "submit_business_verification": ("create_business_verification", SUCCESS["create_business_verification"]),
}

FAILURE: dict[str, Failure] = {
    "list_accounts": Invalid(lambda w: {"page_size": 0}, "page_size"),
    "search_accounts": Invalid(lambda w: {"conditions": []}, "conditions"),
    "get_account": NotFound(lambda w: {"account_id": NO_ACCOUNT}, NO_ACCOUNT),
    "create_account": Invalid(lambda w: {"email_address": "not-an-address"}, "email_address"),
    "update_account": NotFound(lambda w: {"account_id": NO_ACCOUNT, "name_first": "A"}, NO_ACCOUNT),
    "redact_account": NotFound(lambda w: {"account_id": NO_ACCOUNT}, NO_ACCOUNT),
    "add_account_tag": NotFound(lambda w: {"account_id": NO_ACCOUNT, "tag_name": "x"}, NO_ACCOUNT),
    "remove_account_tag": NotFound(lambda w: {"account_id": NO_ACCOUNT, "tag_name": "x"}, NO_ACCOUNT),
    "set_account_tags": NotFound(lambda w: {"account_id": NO_ACCOUNT, "tag_names": ["x"]}, NO_ACCOUNT),
    "consolidate_accounts": NotFound(
        lambda w: {"account_id": w.account, "source_account_ids": [NO_ACCOUNT]}, NO_ACCOUNT
    ),
    "list_account_relations": NotFound(lambda w: {"account_id": NO_ACCOUNT}, NO_ACCOUNT),
    "add_account_relation": NotFound(
        lambda w: {
            "account_id": NO_ACCOUNT,
            "relation_schema_key": "parent-of",
            "target_object_id": w.account,
        },
        NO_ACCOUNT,
    ),
    "remove_account_relation": NotFound(
        lambda w: {
            "account_id": NO_ACCOUNT,
            "relation_schema_key": "parent-of",
            "target_object_id": w.account,
        },
        NO_ACCOUNT,
    ),
    "run_account_action": NotFound(
        lambda w: {"account_id": NO_ACCOUNT, "account_action_id": ACTION_ID}, NO_ACCOUNT
    ),
    "list_inquiries": Invalid(lambda w: {"status": "lost"}, "status"),
    "search_inquiries": Invalid(
        lambda w: {"conditions": [{"attribute": "Bad Name", "value": 1}]}, "attribute"
    ),
    "get_inquiry": NotFound(lambda w: {"inquiry_id": NO_INQUIRY}, NO_INQUIRY),
    "create_inquiry": Invalid(lambda w: {"inquiry_template_id": "tmpl-1"}, "inquiry_template_id"),
    "update_inquiry": NotFound(lambda w: {"inquiry_id": NO_INQUIRY, "note": "n"}, NO_INQUIRY),
    "redact_inquiry": NotFound(lambda w: {"inquiry_id": NO_INQUIRY}, NO_INQUIRY),
    "approve_inquiry": NotFound(lambda w: {"inquiry_id": NO_INQUIRY}, NO_INQUIRY),
    "decline_inquiry": NotFound(lambda w: {"inquiry_id": NO_INQUIRY}, NO_INQUIRY),
    "mark_inquiry_for_review": NotFound(lambda w: {"inquiry_id": NO_INQUIRY}, NO_INQUIRY),
    "expire_inquiry": NotFound(lambda w: {"inquiry_id": NO_INQUIRY}, NO_INQUIRY),
    "resume_inquiry": NotFound(lambda w: {"inquiry_id": NO_INQUIRY}, NO_INQUIRY),
    "generate_inquiry_link": NotFound(lambda w: {"inquiry_id": NO_INQUIRY}, NO_INQUIRY),
    "print_inquiry_pdf": NotFound(lambda w: {"inquiry_id": NO_INQUIRY}, NO_INQUIRY),
    "add_inquiry_tag": NotFound(lambda w: {"inquiry_id": NO_INQUIRY, "tag_name": "x"}, NO_INQUIRY),
    "remove_inquiry_tag": NotFound(lambda w: {"inquiry_id": NO_INQUIRY, "tag_name": "x"}, NO_INQUIRY),
    "set_inquiry_tags": NotFound(lambda w: {"inquiry_id": NO_INQUIRY, "tag_names": ["x"]}, NO_INQUIRY),
    "simulate_inquiry_actions": Invalid(
        lambda w: {"inquiry_id": w.inquiry["created"], "actions": []}, "actions"
    ),
    "set_inquiry_simulate_stubs": Invalid(
        lambda w: {"inquiry_id": w.inquiry["created"], "email_address": "nobody"}, "email_address"
    ),
    # A filter, not a look-up: an unknown inquiry has no sessions. A wrong prefix is refused.
    "list_inquiry_sessions": Invalid(lambda w: {"inquiry_id": w.account}, "inquiry_id"),
    "get_inquiry_session": NotFound(lambda w: {"inquiry_session_id": NO_SESSION}, NO_SESSION),
    "create_inquiry_session": NotFound(lambda w: {"inquiry_id": NO_INQUIRY}, NO_INQUIRY),
    "expire_inquiry_session": NotFound(lambda w: {"inquiry_session_id": NO_SESSION}, NO_SESSION),
    "expire_all_inquiry_sessions": Invalid(lambda w: {"inquiry_ids": []}, "inquiry_ids"),
    "generate_inquiry_session_link": NotFound(lambda w: {"inquiry_session_id": NO_SESSION}, NO_SESSION),
    "list_lists": Invalid(lambda w: {"status": "lost"}, "status"),
    "get_list": NotFound(lambda w: {"list_id": NO_LIST}, NO_LIST),
    "create_list": Invalid(lambda w: {"type": "shoe-size", "name": "n"}, "type"),
    "archive_list": NotFound(lambda w: {"list_id": NO_LIST}, NO_LIST),
    "create_list_item": NotFound(
        lambda w: {"type": "country", "list_id": NO_LIST, "country_code": "FR"}, NO_LIST
    ),
    "get_list_item": NotFound(
        lambda w: {"type": "email-address", "list_item_id": NO_EMAIL_ITEM}, NO_EMAIL_ITEM
    ),
    "archive_list_item": NotFound(
        lambda w: {"type": "email-address", "list_item_id": NO_EMAIL_ITEM}, NO_EMAIL_ITEM
    ),
    "list_webhooks": Invalid(lambda w: {"page_size": 0}, "page_size"),
    "get_webhook": NotFound(lambda w: {"webhook_id": NO_WEBHOOK}, NO_WEBHOOK),
    "create_webhook": Invalid(
        lambda w: {"name": "h", "url": "http://example.com/h", "enabled_events": ["inquiry.approved"]}, "url"
    ),
    "update_webhook": NotFound(lambda w: {"webhook_id": NO_WEBHOOK, "name": "n"}, NO_WEBHOOK),
    "archive_webhook": NotFound(lambda w: {"webhook_id": NO_WEBHOOK}, NO_WEBHOOK),
    "set_webhook_enabled": NotFound(lambda w: {"webhook_id": NO_WEBHOOK, "enabled": True}, NO_WEBHOOK),
    "rotate_webhook_secret": NotFound(lambda w: {"webhook_id": NO_WEBHOOK}, NO_WEBHOOK),
    "clone_webhook": NotFound(lambda w: {"webhook_id": NO_WEBHOOK}, NO_WEBHOOK),
    "list_events": Invalid(lambda w: {"page_size": 1000}, "page_size"),
    "get_event": NotFound(lambda w: {"event_id": NO_EVENT}, NO_EVENT),
    "wait_for_inquiry": Invalid(
        lambda w: {"inquiry_id": w.inquiry["pending"], "statuses": ["done"], "timeout_seconds": 61},
        "timeout_seconds",
    ),
    "list_reports": Invalid(lambda w: {"account_id": w.inquiry["pending"]}, "account_id"),
    "get_report": NotFound(lambda w: {"report_id": NO_REPORT}, NO_REPORT),
    "create_report": Invalid(lambda w: {"report_type": "crypto-address-watchlist"}, "crypto_address"),
    "rerun_report": NotFound(lambda w: {"report_id": NO_REPORT}, NO_REPORT),
    "list_report_history": NotFound(lambda w: {"report_id": NO_REPORT}, NO_REPORT),
    "print_report_pdf": NotFound(lambda w: {"report_id": NO_REPORT}, NO_REPORT),
    "dismiss_report_matches": Invalid(lambda w: {"report_id": w.report, "reason": ""}, "reason"),
    "set_report_monitoring": NotFound(lambda w: {"report_id": NO_REPORT, "paused": False}, NO_REPORT),
    "redact_report": NotFound(lambda w: {"report_id": NO_REPORT}, NO_REPORT),
    "tag_report": Invalid(lambda w: {"report_id": w.report, "mode": "remove", "tag_names": []}, "tag_names"),
    "wait_for_report": NotFound(lambda w: {"report_id": NO_REPORT}, NO_REPORT),
    "list_cases": Invalid(lambda w: {"case_template_id": "tmpl-1"}, "case_template_id"),
    "search_cases": Invalid(lambda w: {"conditions": []}, "conditions"),
    "get_case": NotFound(lambda w: {"case_id": NO_CASE}, NO_CASE),
    "create_case": Invalid(
        lambda w: {"case_template_id": "ctmpl_R1", "object_ids": ["lst_X1"]}, "object_ids"
    ),
    "update_case": Invalid(lambda w: {"case_id": w.case}, "case_queue_id"),
    "assign_case": Invalid(
        lambda w: {"case_id": w.case, "user_email_address": "nobody"}, "user_email_address"
    ),
    "set_case_status": NotFound(lambda w: {"case_id": NO_CASE, "status": "Approved"}, NO_CASE),
    "attach_case_objects": NotFound(lambda w: {"case_id": NO_CASE, "object_ids": [w.account]}, NO_CASE),
    "redact_case": NotFound(lambda w: {"case_id": NO_CASE}, NO_CASE),
    "tag_case": NotFound(lambda w: {"case_id": NO_CASE, "mode": "add", "tag_names": ["x"]}, NO_CASE),
    "get_verification": NotFound(lambda w: {"verification_id": NO_VERIFICATION}, NO_VERIFICATION),
    "print_verification_pdf": NotFound(lambda w: {"verification_id": NO_VERIFICATION}, NO_VERIFICATION),
    "set_verification_lock": NotFound(
        lambda w: {"verification_id": NO_VERIFICATION, "locked": True}, NO_VERIFICATION
    ),
    "redact_verification": NotFound(lambda w: {"verification_id": NO_VERIFICATION}, NO_VERIFICATION),
    "create_business_verification": Invalid(
        lambda w: {**BUSINESS, "address_country_code": "USA"}, "address_country_code"
    ),
    "update_business_verification": NotFound(
        lambda w: {"verification_id": NO_VERIFICATION, "business_name": "B"}, NO_VERIFICATION
    ),
    "submit_business_verification": NotFound(lambda w: {"verification_id": NO_VERIFICATION}, NO_VERIFICATION),
    "query_audit_log": Invalid(lambda w: {"limit": 0}, "limit"),
    "verify_audit_log": Invalid(lambda w: {"deep": True}, "deep"),
    # -- second tier -----------------------------------------------------------------------------------
    "get_document": Invalid(lambda w: {"document_id": w.account}, "document_id"),
    "create_generic_document": Invalid(
        lambda w: {"document_kind": "x", "files": [{"filename": "a.pdf", "base64": "not base64!"}]}, "base64"
    ),
    "update_generic_document": Invalid(
        lambda w: {"document_id": DEMO_IDS["draft-generic-document"]}, "files"
    ),
    "create_government_id_document": Invalid(
        lambda w: {"inquiry_id": w.inquiry["pending"], "country_code": "USA"}, "country_code"
    ),
    "update_government_id_document": Invalid(
        lambda w: {"document_id": DEMO_IDS["draft-government-id"], "id_class": "DL!"}, "id_class"
    ),
    "submit_document": Invalid(
        lambda w: {"document_id": DEMO_IDS["government-id"], "kind": "passport"}, "kind"
    ),
    "list_transactions": Invalid(lambda w: {"transaction_type_id": "tt_1"}, "transaction_type_id"),
    "get_transaction": NotFound(lambda w: {"transaction_id": NO_TRANSACTION}, NO_TRANSACTION),
    "create_transaction": Invalid(lambda w: {"reference_id": "x"}, "transaction_type_id"),
    "update_transaction": NotFound(
        lambda w: {"transaction_id": NO_TRANSACTION, "status": "approved"}, NO_TRANSACTION
    ),
    "redact_transaction": NotFound(lambda w: {"transaction_id": NO_TRANSACTION}, NO_TRANSACTION),
    "redact_transaction_biometrics": NotFound(lambda w: {"transaction_id": NO_TRANSACTION}, NO_TRANSACTION),
    "label_transaction": NotFound(
        lambda w: {"transaction_id": NO_TRANSACTION, "label": "fraud"}, NO_TRANSACTION
    ),
    "add_transaction_tag": NotFound(
        lambda w: {"transaction_id": NO_TRANSACTION, "tag_name": "x"}, NO_TRANSACTION
    ),
    "remove_transaction_tag": NotFound(
        lambda w: {"transaction_id": NO_TRANSACTION, "tag_name": "x"}, NO_TRANSACTION
    ),
    "set_transaction_tags": NotFound(
        lambda w: {"transaction_id": NO_TRANSACTION, "tag_names": ["x"]}, NO_TRANSACTION
    ),
    "add_transaction_relation": NotFound(
        lambda w: {
            "transaction_id": NO_TRANSACTION,
            "relation_schema_key": "made-by",
            "target_object_id": w.account,
        },
        NO_TRANSACTION,
    ),
    "remove_transaction_relation": NotFound(
        lambda w: {
            "transaction_id": NO_TRANSACTION,
            "relation_schema_key": "made-by",
            "target_object_id": w.account,
        },
        NO_TRANSACTION,
    ),
    "list_api_logs": Invalid(lambda w: {"page_size": 0}, "page_size"),
    "get_api_log": NotFound(lambda w: {"api_log_id": NO_API_LOG}, NO_API_LOG),
    "list_user_audit_logs": Invalid(lambda w: {"after": "req_1"}, "after"),
    "get_user_audit_log": NotFound(lambda w: {"user_audit_log_id": NO_USER_AUDIT_LOG}, NO_USER_AUDIT_LOG),
    "list_importers": Invalid(lambda w: {"page_size": 101}, "page_size"),
    "get_importer": NotFound(lambda w: {"importer_id": NO_IMPORTER}, NO_IMPORTER),
    "import_list_items": Invalid(
        lambda w: {
            "type": "name",
            "list_id": w.lists["email-address"],
            "csv": {"filename": "n.csv", "base64": _b64(b"first,last\nA,B\n")},
        },
        "csv",
    ),
    "import_accounts": Invalid(
        lambda w: {
            "csv": {"filename": "u.csv", "base64": _b64(b"x"), "resource": _embedded("file:///u", b"x")}
        },
        "base64",
    ),
    "import_faces": Invalid(lambda w: {"list_id": w.lists["email-address"], "images": []}, "images"),
    "trigger_workflow": NotFound(lambda w: {"workflow_id": NO_WORKFLOW, "fields": {}}, NO_WORKFLOW),
    "list_workflow_runs": Invalid(lambda w: {"status": "lost"}, "status"),
    "get_workflow_run": NotFound(lambda w: {"workflow_run_id": NO_WORKFLOW_RUN}, NO_WORKFLOW_RUN),
    "list_workflow_versions": Invalid(lambda w: {"workflow_id": "wf_1"}, "workflow_id"),
    "list_inquiry_templates": Invalid(lambda w: {"page_size": 0}, "page_size"),
    "get_inquiry_template": NotFound(lambda w: {"inquiry_template_id": NO_TEMPLATE}, NO_TEMPLATE),
    "list_inquiry_template_versions": Invalid(
        lambda w: {"inquiry_template_id": "tmpl"}, "inquiry_template_id"
    ),
    "get_inquiry_template_translations": NotFound(
        lambda w: {"inquiry_template_id": NO_TEMPLATE}, NO_TEMPLATE
    ),
    "import_inquiry_template_translations": Invalid(
        lambda w: {"inquiry_template_id": DEMO_TEMPLATE_ID, "translations": []}, "translations"
    ),
    "list_devices": Invalid(lambda w: {}, "inquiry_session_id"),
    "get_device": NotFound(lambda w: {"device_id": NO_DEVICE}, NO_DEVICE),
    "list_rate_limits": Invalid(lambda w: {"page_size": 5}, "page_size"),
}

TOOLS = [spec.name for spec in CATALOGUE]
#: Tools that give ids: list/search tools, and for kinds without them (verifications) the tools whose
#: results name such ids (get_inquiry's verification_ids, get_case's verification_ids).
_FINDER = re.compile(r"\b(?:list|search)_[a-z_]+|\bget_(?:list|inquiry|case)\b")


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    # The tools themselves are under test here, not the four-eyes flow or the destructive-call breaker
    # (tests/e2e/test_approvals.py, tests/server/test_approval_limits.py).
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PERSONA_MCP_APPROVALS_BREAKER_THRESHOLD", "1000000")
        async with connected(
            tmp_path_factory.mktemp("every-tool"), list(Scope), no_approval=approvals_waived()
        ) as h:
            yield h


@pytest.fixture(scope="module")
async def declared_output_schemas(harness: Harness) -> dict[str, dict[str, Any] | None]:
    listed = await harness.client.list_tools()
    return {tool.name: tool.output_schema for tool in listed.tools}


@pytest.fixture
def world(harness: Harness) -> World:
    harness.sandbox.reset()  # every case starts from the same demo seed, with the same ids
    return _world(harness)


def _text(result: types.CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


def _assert_no_server_path(result: types.CallToolResult, harness: Harness) -> None:
    """A path on the server's disk is useless to a remote client and tells it how the server is laid out."""
    data_dir = harness.app.settings.data_dir
    wire = result.model_dump_json(by_alias=True)
    for path in {str(data_dir), str(data_dir.resolve()), str(data_dir.absolute())}:
        assert path not in wire and json.dumps(path)[1:-1] not in wire, f"a server path in the result: {wire}"


def test_every_tool_in_the_catalogue_has_a_success_and_a_failure_case() -> None:
    assert sorted(set(TOOLS) - SUCCESS.keys()) == [], "tools without a success case"
    assert sorted(set(TOOLS) - FAILURE.keys()) == [], "tools without a failure case"
    assert sorted((SUCCESS.keys() | FAILURE.keys()) - set(TOOLS)) == [], "cases for tools that do not exist"


async def test_the_grant_with_every_scope_lists_every_tool(
    declared_output_schemas: dict[str, dict[str, Any] | None],
) -> None:
    assert sorted(declared_output_schemas) == sorted(TOOLS)


@pytest.mark.parametrize("tool", list(TOOLS))
async def test_each_tool_succeeds_through_the_client_with_content_matching_its_output_schema(
    tool: str, harness: Harness, world: World, declared_output_schemas: dict[str, dict[str, Any] | None]
) -> None:
    arguments = SUCCESS[tool](world)
    if tool in PREPARE:
        first, args = PREPARE[tool]
        prepared = await harness.client.call_tool(first, args(world))
        assert not prepared.is_error, _text(prepared)
        made = (prepared.structured_content or {}).get("id")
        arguments = {key: made if value == PREPARED else value for key, value in arguments.items()}
    result = await harness.client.call_tool(tool, arguments)
    assert not result.is_error, _text(result)
    assert isinstance(result.structured_content, dict)
    declared = declared_output_schemas[tool]
    assert declared is not None, "every tool lists its output schema"
    schema = declared
    jsonschema.validate(result.structured_content, schema, cls=jsonschema.Draft202012Validator)
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    _assert_no_server_path(result, harness)


@pytest.mark.parametrize("tool", TOOLS)
async def test_each_tool_explains_a_failure_with_the_field_or_the_missing_id_and_a_next_step(
    tool: str, harness: Harness, world: World
) -> None:
    failure = FAILURE[tool]
    result = await harness.client.call_tool(tool, failure.args(world))
    assert result.is_error
    _assert_no_server_path(result, harness)
    message = _text(result)
    if isinstance(failure, Invalid):
        assert message.startswith(f"Invalid arguments for {tool}:"), message
        assert failure.field in message, message
    else:
        assert failure.missing in message, message
        finders = _FINDER.findall(message)
        assert finders and all(name in TOOLS for name in finders), message
