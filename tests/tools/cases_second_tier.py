"""Success and failure cases of the second-tier families (issue 19), joined to `cases.py`'s tables.

The demo seed pins the ids of these families' objects (`sandbox.seed.DEMO_IDS`), so the cases name
them directly; each check reads a value the call must have produced, not just an id.
"""

from __future__ import annotations

import base64
from typing import Any

from persona_mcp.sandbox.seed import DEMO_IDS, DEMO_TEMPLATE_ID

from .cases import Case, Failure

MISSING_SECOND_TIER = {
    "transaction": "txn_Missing000000000000000000",
    "api_log": "req_Missing000000000000000000",
    "user_audit_log": "ual_Missing000000000000000000",
    "importer": "mprt_Missing00000000000000000",
    "workflow": "wfl_Missing000000000000000000",
    "workflow_run": "wfr_Missing000000000000000000",
    "template": "itmpl_Missing0000000000000000",
    "device": "dev_Missing000000000000000000",
    "document": "doc_Missing000000000000000000",
}
M = MISSING_SECOND_TIER
TXN = DEMO_IDS["transaction"]


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def _upload(name: str, content: bytes) -> dict[str, Any]:
    return {"filename": name, "base64": b64(content)}


SUCCESSES: tuple[Case, ...] = (
    Case(
        "get_document",
        lambda w: {"document_id": DEMO_IDS["government-id"], "kind": "government-id"},
        lambda r, w: r.type == "document/government-id" and r.front_photo.url.startswith("https://files."),
    ),
    Case(
        "create_generic_document",
        lambda w: {"document_kind": "utility_bill", "files": [_upload("bill.pdf", b"%PDF-1.4 x")]},
        lambda r, w: r.status == "initiated" and r.files[0].byte_size == 10,
    ),
    Case(
        "update_generic_document",
        lambda w: {"document_id": DEMO_IDS["draft-generic-document"], "document_kind": "payslip"},
        lambda r, w: r.kind == "payslip",
    ),
    Case(
        "create_government_id_document",
        lambda w: {"inquiry_id": w.inquiry["pending"], "country_code": "FR"},
        lambda r, w: r.type == "document/government-id" and r.inquiry_id == w.inquiry["pending"],
    ),
    Case(
        "update_government_id_document",
        lambda w: {"document_id": DEMO_IDS["draft-government-id"], "front_photo": _upload("f.jpg", b"jpeg")},
        lambda r, w: r.front_photo.filename == "f.jpg",
    ),
    Case(
        "submit_document",
        lambda w: {"document_id": DEMO_IDS["draft-government-id"], "kind": "government-id"},
        lambda r, w: r.status == "processed",
    ),
    Case("list_transactions", lambda w: {}, lambda r, w: [i.id for i in r.items] == [TXN]),
    Case("get_transaction", lambda w: {"transaction_id": TXN}, lambda r, w: r.fields["name-first"] == "Jane"),
    Case(
        "create_transaction",
        lambda w: {"transaction_type_id": DEMO_IDS["transaction-type"], "tags": ["new"]},
        lambda r, w: r.status == "created" and r.tags == ["new"],
    ),
    Case(
        "update_transaction",
        lambda w: {"transaction_id": TXN, "status": "approved"},
        lambda r, w: r.status == "approved",
    ),
    Case(
        "redact_transaction", lambda w: {"transaction_id": TXN}, lambda r, w: r.fields["name-first"] is None
    ),
    Case(
        "redact_transaction_biometrics",
        lambda w: {"transaction_id": TXN},
        lambda r, w: r.fields["front-photo"] is None and r.fields["name-first"] == "Jane",
    ),
    Case(
        "label_transaction",
        lambda w: {"transaction_id": TXN, "label": "fraud"},
        lambda r, w: r.label_id is not None,
    ),
    Case(
        "add_transaction_tag", lambda w: {"transaction_id": TXN, "tag_name": "x"}, lambda r, w: "x" in r.tags
    ),
    Case(
        "remove_transaction_tag",
        lambda w: {"transaction_id": TXN, "tag_name": "payout"},
        lambda r, w: r.tags == [],
    ),
    Case(
        "set_transaction_tags",
        lambda w: {"transaction_id": TXN, "tag_names": ["p", "q"]},
        lambda r, w: r.tags == ["p", "q"],
    ),
    Case(
        "add_transaction_relation",
        lambda w: {
            "transaction_id": TXN,
            "relation_schema_key": "made-by",
            "target_object_id": w.other_account,
        },
        lambda r, w: w.other_account in r.related_ids,
    ),
    Case(
        "remove_transaction_relation",
        lambda w: {"transaction_id": TXN, "relation_schema_key": "made-by", "target_object_id": w.account},
        lambda r, w: w.account not in r.related_ids,
    ),
    Case("list_api_logs", lambda w: {}, lambda r, w: r.items[0].method == "GET"),
    Case("get_api_log", lambda w: {"api_log_id": DEMO_IDS["api-log"]}, lambda r, w: r.status == 200),
    Case("list_user_audit_logs", lambda w: {}, lambda r, w: r.items[0].id == DEMO_IDS["user-audit-log"]),
    Case(
        "get_user_audit_log",
        lambda w: {"user_audit_log_id": DEMO_IDS["user-audit-log"]},
        lambda r, w: r.path == "/api/v1/inquiries",
    ),
    Case("list_importers", lambda w: {}, lambda r, w: DEMO_IDS["importer"] in [i.id for i in r.items]),
    Case("get_importer", lambda w: {"importer_id": DEMO_IDS["importer"]}, lambda r, w: r.status == "ready"),
    Case(
        "import_list_items",
        lambda w: {
            "type": "name",
            "list_id": w.name_list,
            "csv": _upload("names.csv", b"name_first,name_last\nAl,Capone\nBo,X\n"),
        },
        # The list holds Bo X already (the world made it): one new, one duplicate.
        lambda r, w: (r.successful_count, r.duplicate_count, r.type) == (1, 1, "importer/list-item/name"),
    ),
    Case(
        "import_accounts",
        lambda w: {"csv": _upload("a.csv", b"reference_id,name_first\nusr-1001,Jane\nusr-7,Al\n")},
        lambda r, w: (r.successful_count, r.duplicate_count) == (1, 1),
    ),
    Case(
        "import_faces",
        lambda w: {
            "list_id": w.lists["email-address"],
            "images": [_upload("a.jpg", b"1"), _upload("b.jpg", b"2")],
        },
        lambda r, w: r.successful_count == 2,
    ),
    Case(
        "trigger_workflow",
        lambda w: {"workflow_id": DEMO_IDS["workflow"], "fields": {"account_id": w.account}},
        lambda r, w: r.workflow_id == DEMO_IDS["workflow"] and r.status == "completed",
    ),
    Case("list_workflow_runs", lambda w: {}, lambda r, w: r.items[0].id == DEMO_IDS["workflow-run"]),
    Case(
        "get_workflow_run",
        lambda w: {"workflow_run_id": DEMO_IDS["workflow-run"]},
        lambda r, w: r.workflow_version_id == DEMO_IDS["workflow-version"],
    ),
    Case(
        "list_workflow_versions",
        lambda w: {"workflow_id": DEMO_IDS["workflow"]},
        lambda r, w: [i.id for i in r.items] == [DEMO_IDS["workflow-version"]],
    ),
    Case("list_inquiry_templates", lambda w: {}, lambda r, w: [i.id for i in r.items] == [DEMO_TEMPLATE_ID]),
    Case(
        "get_inquiry_template",
        lambda w: {"inquiry_template_id": DEMO_TEMPLATE_ID},
        lambda r, w: r.field_schemas[0].key == "name_first",
    ),
    Case(
        "list_inquiry_template_versions",
        lambda w: {"inquiry_template_id": DEMO_TEMPLATE_ID},
        lambda r, w: {i.status for i in r.items} == {"draft", "published"},
    ),
    Case(
        "get_inquiry_template_translations",
        lambda w: {"inquiry_template_id": DEMO_TEMPLATE_ID},
        lambda r, w: r.translations[0].locale_values[0].value == "Getting started",
    ),
    Case(
        "import_inquiry_template_translations",
        lambda w: {
            "inquiry_template_id": DEMO_TEMPLATE_ID,
            "translations": [
                {
                    "step": "start",
                    "component": "title",
                    "attribute_name": "text",
                    "locale_values": [{"locale": "de", "value": "Los"}],
                }
            ],
        },
        lambda r, w: r.id == DEMO_IDS["template-draft"],
    ),
    Case(
        "list_devices",
        lambda w: {"inquiry_session_id": w.session},
        lambda r, w: r.items[0].id == DEMO_IDS["device"],
    ),
    Case(
        "get_device",
        lambda w: {"device_id": DEMO_IDS["device"]},
        lambda r, w: r.device_fingerprint is not None,
    ),
    Case("list_rate_limits", lambda w: {}, lambda r, w: r.items[0].remaining <= r.items[0].limit),
)

FAILURES: tuple[Failure, ...] = (
    Failure("get_document", lambda w: {"document_id": M["document"]}, "not_found"),
    Failure("create_generic_document", lambda w: {"document_kind": "x"}, "outcome_unknown", fault=502),
    Failure(
        "update_generic_document",
        lambda w: {"document_id": DEMO_IDS["generic-document"], "document_kind": "x"},
        "conflict",
    ),
    Failure(
        "create_government_id_document",
        lambda w: {"inquiry_id": w.inquiry["pending"], "country_code": "FR"},
        "outcome_unknown",
        fault=500,
    ),
    Failure(
        "update_government_id_document",
        lambda w: {"document_id": M["document"], "id_class": "pp"},
        "not_found",
    ),
    Failure(
        "submit_document",
        lambda w: {"document_id": DEMO_IDS["government-id"], "kind": "government-id"},
        "conflict",
    ),
    Failure("list_transactions", lambda w: {}, "rate_limited", fault=429, retry_safe=True),
    Failure("get_transaction", lambda w: {"transaction_id": M["transaction"]}, "not_found"),
    Failure(
        "create_transaction",
        lambda w: {"transaction_type_id": DEMO_IDS["transaction-type"]},
        "outcome_unknown",
        fault=502,
    ),
    Failure(
        "update_transaction",
        lambda w: {"transaction_id": M["transaction"], "status": "approved"},
        "not_found",
    ),
    Failure("redact_transaction", lambda w: {"transaction_id": M["transaction"]}, "not_found"),
    Failure("redact_transaction_biometrics", lambda w: {"transaction_id": M["transaction"]}, "not_found"),
    Failure(
        "label_transaction", lambda w: {"transaction_id": M["transaction"], "label": "fraud"}, "not_found"
    ),
    Failure(
        "add_transaction_tag", lambda w: {"transaction_id": M["transaction"], "tag_name": "x"}, "not_found"
    ),
    Failure(
        "remove_transaction_tag", lambda w: {"transaction_id": M["transaction"], "tag_name": "x"}, "not_found"
    ),
    Failure(
        "set_transaction_tags", lambda w: {"transaction_id": M["transaction"], "tag_names": []}, "not_found"
    ),
    Failure(
        "add_transaction_relation",
        lambda w: {
            "transaction_id": M["transaction"],
            "relation_schema_key": "k",
            "target_object_id": w.account,
        },
        "not_found",
    ),
    Failure(
        "remove_transaction_relation",
        lambda w: {
            "transaction_id": M["transaction"],
            "relation_schema_key": "k",
            "target_object_id": w.account,
        },
        "not_found",
    ),
    Failure("list_api_logs", lambda w: {}, "upstream_unavailable", fault=503, retry_safe=True),
    Failure("get_api_log", lambda w: {"api_log_id": M["api_log"]}, "not_found"),
    Failure("list_user_audit_logs", lambda w: {}, "rate_limited", fault=429, retry_safe=True),
    Failure("get_user_audit_log", lambda w: {"user_audit_log_id": M["user_audit_log"]}, "not_found"),
    Failure("list_importers", lambda w: {}, "rate_limited", fault=429, retry_safe=True),
    Failure("get_importer", lambda w: {"importer_id": M["importer"]}, "not_found"),
    Failure(
        "import_list_items",
        lambda w: {
            "type": "name",
            "list_id": w.name_list,
            "csv": _upload("n.csv", b"name_first,name_last\nA,B\n"),
        },
        "outcome_unknown",
        fault=502,
    ),
    Failure(
        "import_accounts",
        lambda w: {"csv": _upload("a.csv", b"reference_id\nusr-9\n")},
        "outcome_unknown",
        fault=500,
    ),
    Failure(
        "import_faces",
        lambda w: {"list_id": "lst_Missing000000000000000000", "images": [_upload("a.jpg", b"1")]},
        "not_found",
    ),
    Failure("trigger_workflow", lambda w: {"workflow_id": M["workflow"], "fields": {}}, "not_found"),
    Failure("list_workflow_runs", lambda w: {}, "upstream_unavailable", fault=503, retry_safe=True),
    Failure("get_workflow_run", lambda w: {"workflow_run_id": M["workflow_run"]}, "not_found"),
    Failure("list_workflow_versions", lambda w: {}, "rate_limited", fault=429, retry_safe=True),
    Failure("list_inquiry_templates", lambda w: {}, "rate_limited", fault=429, retry_safe=True),
    Failure("get_inquiry_template", lambda w: {"inquiry_template_id": M["template"]}, "not_found"),
    Failure(
        "list_inquiry_template_versions", lambda w: {}, "upstream_unavailable", fault=503, retry_safe=True
    ),
    Failure(
        "get_inquiry_template_translations", lambda w: {"inquiry_template_id": M["template"]}, "not_found"
    ),
    Failure(
        "import_inquiry_template_translations",
        lambda w: {
            "inquiry_template_id": M["template"],
            "translations": [
                {
                    "step": "s",
                    "component": "c",
                    "attribute_name": "a",
                    "locale_values": [{"locale": "de", "value": "x"}],
                }
            ],
        },
        "not_found",
    ),
    Failure(
        "list_devices",
        lambda w: {"inquiry_session_id": w.session},
        "rate_limited",
        fault=429,
        retry_safe=True,
    ),
    Failure("get_device", lambda w: {"device_id": M["device"]}, "not_found"),
    Failure("list_rate_limits", lambda w: {}, "upstream_unavailable", fault=503, retry_safe=True),
)
