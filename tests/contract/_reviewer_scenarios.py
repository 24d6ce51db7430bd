"""One valid request per operation of the reviewer families (reports, cases, verifications), made against
a sandbox seeded with `seed="demo"`; kept apart from the tier-1 scenarios so each family set reads alone."""

from __future__ import annotations

from typing import Any

import httpx2

from ._scenarios import API, Ctx, Scenario

REVIEWER_SCENARIOS: dict[str, Scenario] = {}


def _report(ctx: Ctx, type_: str = "report/watchlist") -> str:
    return ctx.find(type_)


def _case(ctx: Ctx) -> str:
    return ctx.find("case")


def _verification(ctx: Ctx, type_: str = "verification/government-id") -> str:
    return next(
        r.id for r in ctx.state.of_type(lambda r: r.type == type_) if r.attributes.get("status") == "passed"
    )


def _simple(op_id: str, method: str, path: Any, body: dict[str, Any] | None = None) -> None:
    async def run(ctx: Ctx) -> httpx2.Response:
        return await ctx.client.request(method, API + path(ctx), json=body)

    REVIEWER_SCENARIOS[op_id] = run


def _scenario(op_id: str) -> Any:
    def register(function: Scenario) -> Scenario:
        REVIEWER_SCENARIOS[op_id] = function
        return function

    return register


def _meta(**values: Any) -> dict[str, Any]:
    return {"meta": {k.replace("_", "-"): v for k, v in values.items()}}


# -- reports --------------------------------------------------------------------------------------------
_simple("reports.list", "GET", lambda c: "/reports?page[size]=1")
_simple(
    "reports.create",
    "POST",
    lambda c: "/reports",
    {
        "data": {
            "type": "report/watchlist",
            "attributes": {"query": {"name-first": "Jane", "name-last": "Doe"}},
        },
        "meta": {"auto-create-account-reference-id": "usr-1001"},
    },
)
_simple("reports.retrieve", "GET", lambda c: f"/reports/{_report(c)}")
_simple("reports.redact", "DELETE", lambda c: f"/reports/{_report(c)}")
_simple("reports.list_history", "GET", lambda c: f"/reports/{_report(c)}/history")
_simple("reports.print_pdf", "GET", lambda c: f"/reports/{_report(c)}/print")
_simple(
    "reports.dismiss_matches",
    "POST",
    lambda c: f"/reports/{_report(c)}/dismiss",
    {"data": {"attributes": {"reason": "Different person: birthdate differs"}}},
)
_simple("reports.pause_monitoring", "POST", lambda c: f"/reports/{_report(c)}/pause")
_simple("reports.resume_monitoring", "POST", lambda c: f"/reports/{_report(c)}/resume")
_simple("reports.rerun", "POST", lambda c: f"/reports/{_report(c)}/run")
_simple("reports.add_tag", "POST", lambda c: f"/reports/{_report(c)}/add-tag", _meta(tag_name="screened"))
_simple("reports.remove_tag", "POST", lambda c: f"/reports/{_report(c)}/remove-tag", _meta(tag_name="x"))
_simple("reports.set_tags", "POST", lambda c: f"/reports/{_report(c)}/set-tags", _meta(tag_name=["a", "b"]))

# -- cases ----------------------------------------------------------------------------------------------
_simple("cases.list", "GET", lambda c: "/cases?filter[status]=open")


@_scenario("cases.create")
async def _create_case(ctx: Ctx) -> httpx2.Response:
    body = {
        "data": {"attributes": {"case-template-id": "ctmpl_Jumm3K4zHwaLBBdyLUCnHbBC"}},
        "meta": {"object-ids": [ctx.inquiry("completed")], "sla-expires-in-seconds": 7200},
    }
    return await ctx.client.post(f"{API}/cases", json=body)


_simple("cases.retrieve", "GET", lambda c: f"/cases/{_case(c)}")
_simple(
    "cases.update",
    "PATCH",
    lambda c: f"/cases/{_case(c)}",
    {
        "data": {"attributes": {"fields": {"preferred-name": "Albert"}}},
        "meta": {"sla-expires-in-seconds": 7200},
    },
)
_simple("cases.redact", "DELETE", lambda c: f"/cases/{_case(c)}")
_simple(
    "cases.search",
    "POST",
    lambda c: "/cases/search",
    {"query": {"attribute": "status", "operator": "eq", "value": "open"}, "page": {"size": 10}},
)


@_scenario("cases.add_objects")
async def _add_objects(ctx: Ctx) -> httpx2.Response:
    body = _meta(object_ids=[ctx.inquiry("declined"), _verification(ctx)])
    return await ctx.client.post(f"{API}/cases/{_case(ctx)}/add-objects", json=body)


@_scenario("cases.remove_objects")
async def _remove_objects(ctx: Ctx) -> httpx2.Response:
    body = _meta(object_ids=[ctx.inquiry("needs_review")])
    return await ctx.client.post(f"{API}/cases/{_case(ctx)}/remove-objects", json=body)


_simple(
    "cases.assign", "POST", lambda c: f"/cases/{_case(c)}/assign", _meta(user_email_address="foo@bar.com")
)
_simple("cases.set_status", "POST", lambda c: f"/cases/{_case(c)}/set-status", _meta(status="Approved"))
_simple("cases.add_tag", "POST", lambda c: f"/cases/{_case(c)}/add-tag", _meta(tag_name="FRAUD"))
_simple("cases.remove_tag", "POST", lambda c: f"/cases/{_case(c)}/remove-tag", _meta(tag_name="FRAUD"))
_simple("cases.set_tags", "POST", lambda c: f"/cases/{_case(c)}/set-tags", _meta(tag_name=["FRAUD", "KYC"]))

# -- verifications --------------------------------------------------------------------------------------
_TEMPLATES = "include=verification-template,verification-template-version"
_simple(
    "verifications.retrieve",
    "GET",
    lambda c: f"/verifications/{_verification(c, 'verification/database')}?{_TEMPLATES}",
)
_simple("verifications.redact", "DELETE", lambda c: f"/verifications/{_verification(c)}")
_simple("verifications.print_pdf", "GET", lambda c: f"/verifications/{_verification(c)}/print")
_simple(
    "verifications.investigation_lock",
    "POST",
    lambda c: f"/verifications/{_verification(c, 'verification/database')}/investigation-lock?{_TEMPLATES}",
)
_simple(
    "verifications.investigation_unlock",
    "POST",
    lambda c: f"/verifications/{_verification(c, 'verification/database')}/investigation-unlock?{_TEMPLATES}",
)

#: Typed retrieve operation -> (path segment, type).
TYPED = {
    "aamva": ("aamvas", "verification/aamva"),
    "database_ecbsv": ("database-ecbsvs", "verification/database-ecbsv"),
    "database_phone_carrier": ("database-phone-carriers", "verification/database-phone-carrier"),
    "database_serpro": ("database-serpros", "verification/database-serpro"),
    "database_standard": ("database-standards", "verification/database-standard"),
    "database_tin": ("database-tins", "verification/database-tin"),
    "database": ("databases", "verification/database"),
    "document": ("documents", "verification/document"),
    "email_address": ("email-addresses", "verification/email-address"),
    "government_id": ("government-ids", "verification/government-id"),
    "government_id_nfc": ("government-id-nfcs", "verification/government-id-nfc"),
    "phone_number": ("phone-numbers", "verification/phone-number"),
    "selfie": ("selfies", "verification/selfie"),
}
for _name, (_segment, _type) in TYPED.items():
    _simple(
        f"verifications.retrieve_{_name}",
        "GET",
        lambda c, s=_segment, t=_type: f"/verification/{s}/{_verification(c, t)}",
    )

_BUSINESS = {
    "business-name": "Acme Corporation",
    "registration-number": "C1234567",
    "address-street-1": "1 Example Way",
    "address-city": "Cupertino",
    "address-subdivision": "CA",
    "address-postal-code": "95014",
    "address-country-code": "US",
    "verification-template-id": "vtmpl_SandboxDatabaseBusiness",
}


async def _business(ctx: Ctx) -> str:
    return await ctx.created("/verification/database-businesses", {"data": {"attributes": _BUSINESS}})


@_scenario("verifications.create_database_business")
async def _create_business(ctx: Ctx) -> httpx2.Response:
    return await ctx.client.post(
        f"{API}/verification/database-businesses", json={"data": {"attributes": _BUSINESS}}
    )


@_scenario("verifications.retrieve_database_business")
async def _retrieve_business(ctx: Ctx) -> httpx2.Response:
    return await ctx.client.get(f"{API}/verification/database-businesses/{await _business(ctx)}")


@_scenario("verifications.update_database_business")
async def _update_business(ctx: Ctx) -> httpx2.Response:
    body = {"data": {"attributes": {"business-name": "Acme Corp.", "address-postal-code": "95015"}}}
    return await ctx.client.patch(f"{API}/verification/database-businesses/{await _business(ctx)}", json=body)


@_scenario("verifications.submit_database_business")
async def _submit_business(ctx: Ctx) -> httpx2.Response:
    return await ctx.client.post(f"{API}/verification/database-businesses/{await _business(ctx)}/submit")
