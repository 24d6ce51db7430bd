"""One valid request per operation of the second-tier families (issue 19), against the demo seed.

Families: documents (9), transactions (12), api-logs (2), user-audit-logs (2), importers (10),
workflows (4), inquiry-templates (5), devices (2), rate-limits (1): 47 operations.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2

from persona_mcp.sandbox.seed import DEMO_IDS, DEMO_TEMPLATE_ID

from ._contract import CONTRACT, _load_yaml
from ._scenarios import API, Ctx

FAMILIES = (
    "documents",
    "transactions",
    "api-logs",
    "user-audit-logs",
    "importers",
    "workflows",
    "inquiry-templates",
    "devices",
    "rate-limits",
)


def operations() -> dict[str, dict[str, Any]]:
    catalog = _load_yaml(CONTRACT / "catalog.yaml")
    return {op["id"]: op for op in catalog["operations"] if op["family"] in FAMILIES}


#: Withdrawn from (or hidden in) the public spec: checked against the schema of the operation that
#: answers the same resource type, and against its documented example.
STAND_INS = {
    "documents.create_generic": ("GET", "/document/generics/{document-id}", "documents.retrieve_generic"),
    "documents.update_generic": ("GET", "/document/generics/{document-id}", "documents.retrieve_generic"),
    "documents.submit_generic": ("GET", "/document/generics/{document-id}", "documents.retrieve_generic"),
    "documents.create_government_id": (
        "GET",
        "/document/government-ids/{document-id}",
        "documents.retrieve_government_id",
    ),
    "documents.update_government_id": (
        "GET",
        "/document/government-ids/{document-id}",
        "documents.retrieve_government_id",
    ),
    "documents.submit_government_id": (
        "GET",
        "/document/government-ids/{document-id}",
        "documents.retrieve_government_id",
    ),
    "importers.import_faces": ("GET", "/importers/{importer-id}", "importers.retrieve"),
}

Scenario = Callable[[Ctx], Awaitable[httpx2.Response]]
SCENARIOS: dict[str, Scenario] = {}


def _b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def _file(name: str, content: bytes) -> dict[str, str]:
    return {"data": _b64(content), "filename": name}


def _call(
    op_id: str, method: str, path: Callable[[Ctx], str], body: Callable[[Ctx], Any] | None = None
) -> None:
    async def run(ctx: Ctx) -> httpx2.Response:
        return await ctx.client.request(method, API + path(ctx), json=body(ctx) if body else None)

    SCENARIOS[op_id] = run


def _attrs(**values: Any) -> dict[str, Any]:
    return {"data": {"attributes": {k.replace("_", "-"): v for k, v in values.items()}}}


TXN, GENERIC, GOV = (
    DEMO_IDS["transaction"],
    DEMO_IDS["draft-generic-document"],
    DEMO_IDS["draft-government-id"],
)
PHOTO = {"data": [_file("front.jpg", b"\xff\xd8 jpeg")]}

# -- documents -------------------------------------------------------------------------------------------
_call("documents.retrieve", "GET", lambda c: f"/documents/{DEMO_IDS['generic-document']}")
_call("documents.retrieve_generic", "GET", lambda c: f"/document/generics/{DEMO_IDS['generic-document']}")
_call(
    "documents.retrieve_government_id",
    "GET",
    lambda c: f"/document/government-ids/{DEMO_IDS['government-id']}",
)
_call(
    "documents.create_generic",
    "POST",
    lambda c: "/document/generics",
    lambda c: _attrs(kind="bank_statement", inquiry_id=c.inquiry("pending"), files=[_file("s.pdf", b"%PDF")]),
)
_call(
    "documents.update_generic",
    "PATCH",
    lambda c: f"/document/generics/{GENERIC}",
    lambda c: _attrs(files=[_file("bill.pdf", b"%PDF-1.4")], fields={"issuer": "ACME"}),
)
_call("documents.submit_generic", "POST", lambda c: f"/document/generics/{GENERIC}/submit")
_call(
    "documents.create_government_id",
    "POST",
    lambda c: "/document/government-ids",
    lambda c: _attrs(inquiry_id=c.inquiry("pending"), country_code="US", front_photo=PHOTO),
)
_call(
    "documents.update_government_id",
    "PATCH",
    lambda c: f"/document/government-ids/{GOV}",
    lambda c: _attrs(back_photo=PHOTO, selected_id_class="dl"),
)
_call("documents.submit_government_id", "POST", lambda c: f"/document/government-ids/{GOV}/submit")

# -- transactions ----------------------------------------------------------------------------------------
_call("transactions.list", "GET", lambda c: "/transactions?page[size]=2")
_call(
    "transactions.create",
    "POST",
    lambda c: "/transactions",
    lambda c: _attrs(
        transaction_type_id=DEMO_IDS["transaction-type"], fields={"amount": 5}, reference_id="o-1"
    ),
)
_call("transactions.retrieve", "GET", lambda c: f"/transactions/{TXN}")
_call("transactions.update", "PATCH", lambda c: f"/transactions/{TXN}", lambda c: _attrs(status="approved"))
_call("transactions.redact", "DELETE", lambda c: f"/transactions/{TXN}")
_call("transactions.redact_biometrics", "POST", lambda c: f"/transactions/{TXN}/redact-biometrics")
_call(
    "transactions.create_label",
    "POST",
    lambda c: f"/transactions/{TXN}/label",
    lambda c: {"meta": {"label": "fraud"}},
)
_call(
    "transactions.add_tag",
    "POST",
    lambda c: f"/transactions/{TXN}/add-tag",
    lambda c: {"meta": {"tag-name": "x"}},
)
_call(
    "transactions.remove_tag",
    "POST",
    lambda c: f"/transactions/{TXN}/remove-tag",
    lambda c: {"meta": {"tag-name": "payout"}},
)
_call(
    "transactions.set_tags",
    "POST",
    lambda c: f"/transactions/{TXN}/set-tags",
    lambda c: {"meta": {"tag-name": ["a"]}},
)
_call(
    "transactions.add_relation",
    "POST",
    lambda c: f"/transactions/{TXN}/add-relation",
    lambda c: {"meta": {"relation-schema-key": "made-by", "target-object-id": c.account("usr-1002")}},
)
_call(
    "transactions.remove_relation",
    "POST",
    lambda c: f"/transactions/{TXN}/remove-relation",
    lambda c: {"meta": {"relation-schema-key": "made-by", "target-object-id": c.account("usr-1001")}},
)

# -- logs, devices, rate limits --------------------------------------------------------------------------
_call("api_logs.list", "GET", lambda c: "/api-logs")
_call("api_logs.retrieve", "GET", lambda c: f"/api-logs/{DEMO_IDS['api-log']}")
_call("user_audit_logs.list", "GET", lambda c: "/user-audit-logs")
_call("user_audit_logs.retrieve", "GET", lambda c: f"/user-audit-logs/{DEMO_IDS['user-audit-log']}")
_call("devices.list", "GET", lambda c: f"/devices?filter[inquiry-session-id]={c.active_session()}")
_call("devices.retrieve", "GET", lambda c: f"/devices/{DEMO_IDS['device']}")
_call("rate_limits.list", "GET", lambda c: "/rate-limits")

# -- importers -------------------------------------------------------------------------------------------
_IMPORT_CSV = {
    "email_addresses": ("email-address", b"value,match_type\nx@example.org,email_address\n"),
    "geolocations": ("geolocation", b"latitude,longitude,radius_meters\n37.7,-122.4,10\n"),
    "government_id_numbers": ("government-id-number", b"id_number,id_class\nX123,pp\n"),
    "ip_addresses": ("ip-address", b"value\n192.0.2.1\n"),
    "names": ("name", b"name_first,name_last\nAl,Capone\n"),
    "phone_numbers": ("phone-number", b"value\n+15555550101\n"),
}


def _list_import(op: str, kind: str, content: bytes) -> None:
    async def run(ctx: Ctx) -> httpx2.Response:
        list_id = (
            ctx.find("list/email-address")
            if kind == "email-address"
            else await ctx.list_of(kind.replace("-", "_"))
        )
        body = _attrs(list_id=list_id, file=_file("import.csv", content))
        return await ctx.client.post(API + f"/importer/list-item/{op.replace('_', '-')}", json=body)

    SCENARIOS[f"importers.import_{op}"] = run


for _op, (_kind, _content) in _IMPORT_CSV.items():
    _list_import(_op, _kind, _content)
_call("importers.list", "GET", lambda c: "/importers")
_call("importers.retrieve", "GET", lambda c: f"/importers/{DEMO_IDS['importer']}")
_call(
    "importers.import_accounts",
    "POST",
    lambda c: "/importer/accounts",
    lambda c: _attrs(file=_file("a.csv", b"reference_id,name_first\nusr-5000,Kim\n")),
)
_call(
    "importers.import_faces",
    "POST",
    lambda c: "/importer/list-item/faces",
    lambda c: _attrs(list_id=c.find("list/email-address"), image_files=[_file("face.jpg", b"\xff\xd8")]),
)

# -- workflows and templates -----------------------------------------------------------------------------
_call(
    "workflows.create_run",
    "POST",
    lambda c: f"/workflows/{DEMO_IDS['workflow']}/trigger",
    lambda c: _attrs(fields={"account-id": c.account()}),
)
_call("workflows.list_runs", "GET", lambda c: "/workflow-runs")
_call("workflows.retrieve_run", "GET", lambda c: f"/workflow-runs/{DEMO_IDS['workflow-run']}")
_call(
    "workflows.list_versions",
    "GET",
    lambda c: f"/workflow-versions?filter[workflow-id]={DEMO_IDS['workflow']}",
)
_call("inquiry_templates.list", "GET", lambda c: "/inquiry-templates")
_call("inquiry_templates.retrieve", "GET", lambda c: f"/inquiry-templates/{DEMO_TEMPLATE_ID}")
_call(
    "inquiry_templates.list_versions",
    "GET",
    lambda c: f"/inquiry-template-versions?filter[inquiry-template-id]={DEMO_TEMPLATE_ID}",
)
_call(
    "inquiry_templates.retrieve_translations",
    "GET",
    lambda c: f"/inquiry-templates/{DEMO_TEMPLATE_ID}/translations",
)
_call(
    "inquiry_templates.import_translations",
    "POST",
    lambda c: f"/inquiry-templates/{DEMO_TEMPLATE_ID}/translations",
    lambda c: {
        "data": {
            "attributes": {
                "translations": [
                    {
                        "step": "start",
                        "component": "title",
                        "attribute-name": "text",
                        "locale-values": [{"locale": "de", "value": "Los"}],
                    }
                ]
            }
        }
    },
)
