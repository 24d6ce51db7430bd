"""Seed data (`seed="demo"`): a small, deterministic environment to look at and test against.

Built through the same domain functions the API uses, so the seeded objects and their events are exactly
what the equivalent API calls would have produced. With a fixed `rng_seed` the ids are the same every time.
"""

from __future__ import annotations

from collections.abc import Callable

from persona_mcp.sandbox.clock import now_iso
from persona_mcp.sandbox.domain import (
    accounts,
    cases,
    documents,
    inquiries,
    lists,
    reports,
    sessions,
    simulation,
    templates,
    transactions,
    verifications,
    webhooks,
    workflows,
)
from persona_mcp.sandbox.domain.shapes import add_shaped
from persona_mcp.sandbox.domain.verification_samples import SAMPLES
from persona_mcp.sandbox.records import ref
from persona_mcp.sandbox.store import SandboxState

_PEOPLE = (
    ("usr-1001", "Jane", "Doe", "jane@example.com", "US"),
    ("usr-1002", "Ahmed", "Khan", "ahmed@example.com", "GB"),
    ("usr-1003", "Maria", "Rossi", "maria@example.com", "IT"),
    ("usr-1004", "Kenji", "Sato", "kenji@example.com", "JP"),
    ("usr-1005", "Ana", "Silva", "ana@example.com", "BR"),
)
DEMO_TEMPLATE_ID = "itmpl_SandboxDemoTemplate0000"

#: Pinned ids of the second-tier demo objects (objects the API cannot create, and ones tests name).
DEMO_IDS = {
    "template-version": "itmplv_SandboxDemoPublished00",
    "template-draft": "itmplv_SandboxDemoDraft000000",
    "workflow": "wfl_SandboxDemoWorkflow00000",
    "workflow-version": "wfv_SandboxDemoVersion000000",
    "workflow-run": "wfr_SandboxDemoRun0000000000",
    "transaction-type": "txntp_SandboxDemoPayment0000",
    "transaction": "txn_SandboxDemoTransaction00",
    "generic-document": "doc_SandboxDemoGeneric000000",
    "government-id": "doc_SandboxDemoGovernmentId0",
    "draft-generic-document": "doc_SandboxDemoDraftGeneric0",
    "draft-government-id": "doc_SandboxDemoDraftGovId000",
    "api-log": "req_SandboxDemoApiLog0000000",
    "user-audit-log": "ual_SandboxDemoAuditLog00000",
    "device": "dev_SandboxDemoDevice0000000",
    "importer": "mprt_SandboxDemoImport000000",
}

#: Status each seeded inquiry is driven to, with the simulate actions that get it there.
_INQUIRY_PATHS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("created", ()),
    ("pending", ("start_inquiry",)),
    ("completed", ("complete_inquiry",)),
    ("approved", ("complete_inquiry", "approve_inquiry")),
    ("declined", ("fail_inquiry", "decline_inquiry")),
    ("needs_review", ("complete_inquiry", "mark_for_review_inquiry")),
    ("expired", ("start_inquiry", "expire_inquiry")),
    ("failed", ("fail_inquiry",)),
)

#: Counts tests may rely on.
DEMO_COUNTS = {
    "account": len(_PEOPLE),
    "inquiry": len(_INQUIRY_PATHS),
    "list": 4,
    "list-item": 5,
    "webhook": 1,
    "report": 2,
    "case": 1,
    "verification": len(SAMPLES),
}
DEMO_CASE_TEMPLATE_ID = "ctmpl_SandboxReviewTemplate00"


def _seed_accounts(state: SandboxState) -> list[str]:
    ids = []
    for reference_id, first, last, email, country in _PEOPLE:
        account = accounts.create_account(
            state,
            {
                "reference-id": reference_id,
                "name-first": first,
                "name-last": last,
                "email-address": email,
                "country-code": country,
                "birthdate": "1990-01-31",
                "tags": ["vip"] if reference_id == "usr-1001" else [],
            },
        )
        ids.append(account.id)
    return ids


def _seed_inquiries(state: SandboxState, account_ids: list[str]) -> None:
    for index, (_status, actions) in enumerate(_INQUIRY_PATHS):
        account_id = account_ids[index % len(account_ids)]
        inquiry, _meta = inquiries.create_inquiry(
            state,
            {
                "inquiry-template-id": DEMO_TEMPLATE_ID,
                "account-id": account_id,
                "reference-id": f"inq-ref-{index + 1}",
            },
            {},
        )
        simulation.set_stubs(inquiry, {"name-first": "Jane", "name-last": "Doe", "birthdate": "1990-01-31"})
        if actions and actions[0] != "fail_inquiry":
            session = sessions.create_session(state, inquiry)
            sessions.start_session(state, session)
        if actions:
            simulation.perform(state, inquiry, [{"type": action} for action in actions])


def _seed_lists(state: SandboxState) -> None:
    kinds = lists.KINDS_BY_NAME
    devices = lists.create_list(state, "device-fingerprint", {"name": "Known bad devices"})
    lists.create_item(
        state, kinds["device-fingerprint"], {"list-id": devices.id, "value": "d3v1c3f1ng3rpr1nt"}
    )
    custom = lists.create_list(state, "field", {"name": "Blocked employer names"})
    lists.create_item(state, kinds["field"], {"list-id": custom.id, "field-value": "Acme Shell Company"})
    countries = lists.create_list(state, "country", {"name": "Unsupported countries"})
    lists.create_item(state, kinds["country"], {"list-id": countries.id, "country-code": "KP"})
    emails = lists.create_list(state, "email-address", {"name": "Blocked email addresses"})
    lists.create_item(state, kinds["email-address"], {"list-id": emails.id, "value": "fraud@example.com"})
    lists.create_item(
        state, kinds["email-address"], {"list-id": emails.id, "value": "example.net", "match-type": "domain"}
    )


def _seed_second_tier(state: SandboxState, account_ids: list[str]) -> None:
    """The template, workflow, transaction, documents, logs, device and importer of the second tier."""
    ids = DEMO_IDS
    templates.add_template(
        state, DEMO_TEMPLATE_ID, (ids["template-version"], ids["template-draft"]), "Demo KYC flow"
    )
    workflows.add_workflow(state, ids["workflow"], ids["workflow-version"], "Screen new accounts")
    workflows.trigger(
        state, ids["workflow"], {"fields": {"account-id": account_ids[0]}}, object_id=ids["workflow-run"]
    )
    transaction = transactions.create_transaction(
        state,
        {"transaction-type-id": ids["transaction-type"], "reference-id": "txn-ref-1", "tags": ["payout"]},
        object_id=ids["transaction"],
    )
    photo = inquiries.signed_file_url("txn-front.png", transaction.id)
    transaction.attributes["fields"] = transactions.seed_fields("Jane", "Doe", photo)
    transaction.internal["relations"] = [{"key": "made-by", "target": account_ids[0]}]
    assert transaction.relationships is not None
    transaction.relationships["related-objects"] = {"data": [{"type": "account", "id": account_ids[0]}]}
    inquiry = state.of_type(lambda r: r.type == "inquiry" and r.attributes["status"] == "approved")[0]
    generic = add_shaped(state, "documents.retrieve_generic", "doc", object_id=ids["generic-document"])
    government = add_shaped(state, "documents.retrieve_government_id", "doc", object_id=ids["government-id"])
    for document in (generic, government):
        assert document.relationships is not None
        document.relationships["inquiry"] = ref("inquiry", inquiry.id)
        document.relationships["inquiry-template"] = ref("inquiry-template", DEMO_TEMPLATE_ID)
        document.relationships["inquiry-template-version"] = ref(
            "inquiry-template-version", ids["template-version"]
        )
        _sign_files(document.attributes, document.id)
        documents.attach(state, document)
    documents.create_generic(
        state, {"kind": "bank_statement", "inquiry-id": inquiry.id}, object_id=ids["draft-generic-document"]
    )
    documents.create_government_id(
        state, {"country-code": "US", "inquiry-id": inquiry.id}, object_id=ids["draft-government-id"]
    )
    stamp = now_iso()
    add_shaped(state, "api_logs.retrieve", "req", attributes={"created-at": stamp}, object_id=ids["api-log"])
    add_shaped(
        state,
        "user_audit_logs.list",
        "ual",
        attributes={
            "created-at": stamp,
            "post-params": {"data": {"id": "uses_Demo", "type": "user-session"}},
        },
        object_id=ids["user-audit-log"],
    )
    session = next(
        r
        for r in state.records.values()
        if r.type == "inquiry-session" and r.attributes["status"] == "active"
    )
    add_shaped(
        state, "devices.retrieve", "dev", object_id=ids["device"], internal={"inquiry-session-id": session.id}
    )
    add_shaped(
        state,
        "importers.retrieve",
        "mprt",
        attributes={"status": "ready", "created-at": stamp, "completed-at": stamp, "successful-count": 5},
        object_id=ids["importer"],
    )


def _sign_files(attributes: dict[str, object], salt: str) -> None:
    """Replace the documented placeholder links with the sandbox's own signed file links."""
    for key, value in attributes.items():
        if isinstance(value, dict) and isinstance(value.get("url"), str):
            value["url"] = inquiries.signed_file_url(str(value.get("filename", key)), salt)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and isinstance(item.get("url"), str):
                    item["url"] = inquiries.signed_file_url(str(item.get("filename", key)), salt)


def demo(state: SandboxState) -> None:
    """Five accounts, eight inquiries (one per status), four lists with five items, one enabled webhook,
    and the reviewer's objects: verifications of every documented type, two reports, one open case;
    and one object or more of each second-tier family (see `DEMO_IDS`)."""
    account_ids = _seed_accounts(state)
    _seed_inquiries(state, account_ids)
    _seed_lists(state)
    _seed_second_tier(state, account_ids)
    hook = webhooks.create_webhook(
        state,
        {
            "name": "Demo receiver",
            "url": "https://example.com/persona/webhooks",
            "enabled-events": ["inquiry.approved", "inquiry.declined", "account.created"],
        },
    )
    webhooks.set_enabled(hook, True)
    _seed_reviewer_objects(state, account_ids)


def _seed_reviewer_objects(state: SandboxState, account_ids: list[str]) -> None:
    """One verification of each documented type on the approved inquiry, a ready watchlist report with a
    match and a clear PEP report for the first account, and an open case holding the inquiry in review."""
    by_status = {r.attributes["status"]: r for r in state.of_type(lambda r: r.type == "inquiry")}
    for type_ in SAMPLES:
        verifications.create_sample(state, type_, by_status["approved"])
    first = state.records[account_ids[0]]
    name = {"name-first": "Sanctioned", "name-last": "Person"}
    screening = reports.create_report(
        state,
        {"type": "report/watchlist", "attributes": {"account-id": first.id, "query": name}},
        {},
    )
    reports.complete_now(state, screening)
    pep = reports.create_report(
        state,
        {
            "type": "report/politically-exposed-person",
            "attributes": {"account-id": first.id, "query": {"term": "Jane Doe"}},
        },
        {},
    )
    reports.complete_now(state, pep)
    cases.create_case(
        state,
        {"case-template-id": DEMO_CASE_TEMPLATE_ID},
        {"object-ids": [by_status["needs_review"].id, first.id, screening.id]},
    )


def seeder_for(seed: str | None) -> Callable[[SandboxState], None] | None:
    if seed is None:
        return None
    if seed == "demo":
        return demo
    raise ValueError(f"unknown seed {seed!r} (known: demo)")
