"""One valid request per tier-1 operation, made against a sandbox seeded with `seed="demo"`.

Each scenario prepares what its operation needs (through the API where the API can do it) and returns
the response to check. Objects are chosen so that the answer is as rich as the documented example
(e.g. a pending inquiry with an active session for retrieve, a list of the example's type).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx2

from persona_mcp.sandbox import SandboxState

API = "/api/v1"

#: Valid value attributes per list-item kind: (path segment, attributes).
ITEM_VALUES: dict[str, tuple[str, dict[str, Any]]] = {
    "browser_fingerprint": ("browser-fingerprints", {"value": "bf-5a7c3e"}),
    "country": ("countries", {"country-code": "FR"}),
    "device_fingerprint": ("device-fingerprints", {"value": "df-91b2"}),
    "email_address": ("email-addresses", {"value": "blocked@example.com", "match-type": "email_address"}),
    "field": ("fields", {"field-value": "Acme"}),
    "geolocation": ("geolocations", {"latitude": 37.7879, "longitude": -122.3977, "radius-meters": 10}),
    "government_id_number": ("government-id-numbers", {"id-number": "X1234567", "id-class": "pp"}),
    "ip_address": ("ip-addresses", {"value": "192.0.2.10"}),
    "name": ("names", {"name-first": "Jane", "name-last": "Doe"}),
    "phone_number": ("phone-numbers", {"value": "+15555550100"}),
    "string": ("strings", {"value": "suspicious-string"}),
}
#: Kinds whose lists Persona's API cannot create (dashboard only); the demo seed provides one of each.
_SEEDED_LIST_KINDS = {"device_fingerprint", "field"}


@dataclass
class Ctx:
    client: httpx2.AsyncClient
    state: SandboxState

    def find(self, type_: str, **attributes: Any) -> str:
        for record in self.state.of_type(lambda r: r.type == type_):
            if all(record.attributes.get(k.replace("_", "-")) == v for k, v in attributes.items()):
                return record.id
        raise LookupError(f"no seeded {type_} with {attributes}")

    def account(self, reference_id: str = "usr-1001") -> str:
        return self.find("account", reference_id=reference_id)

    def inquiry(self, status: str) -> str:
        return self.find("inquiry", status=status)

    def active_session(self) -> str:
        return self.find("inquiry-session", status="active")

    async def created(self, path: str, body: dict[str, Any]) -> str:
        response = await self.client.post(API + path, json=body)
        assert response.status_code in (200, 201), response.text
        object_id: str = response.json()["data"]["id"]
        return object_id

    async def list_of(self, kind: str) -> str:
        if kind in _SEEDED_LIST_KINDS:
            return self.find(f"list/{kind.replace('_', '-')}")
        plural = ITEM_VALUES[kind][0]
        return await self.created(f"/list/{plural}", {"data": {"attributes": {"name": f"{kind} list"}}})

    async def item_of(self, kind: str) -> str:
        plural, values = ITEM_VALUES[kind]
        list_id = await self.list_of(kind)
        return await self.created(
            f"/list-item/{plural}", {"data": {"attributes": {"list-id": list_id, **values}}}
        )


Scenario = Callable[[Ctx], Awaitable[httpx2.Response]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(op_id: str) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
        SCENARIOS[op_id] = function
        return function

    return register


def _simple(op_id: str, method: str, path: Callable[[Ctx], str], body: dict[str, Any] | None = None) -> None:
    async def run(ctx: Ctx) -> httpx2.Response:
        return await ctx.client.request(method, API + path(ctx), json=body)

    SCENARIOS[op_id] = run


def _meta(**values: Any) -> dict[str, Any]:
    return {"meta": {k.replace("_", "-"): v for k, v in values.items()}}


# -- accounts -------------------------------------------------------------------------------------------
_simple("accounts.list", "GET", lambda c: "/accounts?page[size]=2")
_simple(
    "accounts.create",
    "POST",
    lambda c: "/accounts",
    {
        "data": {
            "attributes": {
                "reference-id": "usr-2001",
                "name-first": "Jane",
                "name-middle": "Marie",
                "name-last": "Doe",
                "email-address": "jane@doe.com",
                "phone-number": "111-222-3333",
                "birthdate": "1994-12-30",
                "address-street-1": "123 Main St",
                "address-city": "San Francisco",
                "address-subdivision": "California",
                "address-postal-code": "94111",
                "country-code": "US",
                "tags": ["tag1"],
            }
        }
    },
)
_simple("accounts.retrieve", "GET", lambda c: f"/accounts/{c.account()}")
_simple(
    "accounts.update",
    "PATCH",
    lambda c: f"/accounts/{c.account()}",
    {"data": {"attributes": {"name-last": "Roe"}}},
)
_simple("accounts.redact", "DELETE", lambda c: f"/accounts/{c.account()}")
_simple(
    "accounts.search",
    "POST",
    lambda c: "/accounts/search",
    {"query": {"attribute": "reference_id", "operator": "eq", "value": "usr-1001"}, "page": {"size": 10}},
)
_simple("accounts.add_tag", "POST", lambda c: f"/accounts/{c.account()}/add-tag", _meta(tag_name="gold"))
_simple("accounts.remove_tag", "POST", lambda c: f"/accounts/{c.account()}/remove-tag", _meta(tag_name="vip"))
_simple(
    "accounts.set_tags", "POST", lambda c: f"/accounts/{c.account()}/set-tags", _meta(tag_name=["a", "b"])
)


@scenario("accounts.consolidate")
async def _consolidate(ctx: Ctx) -> httpx2.Response:
    body = _meta(source_account_ids=[ctx.account("usr-1002")])
    return await ctx.client.post(f"{API}/accounts/{ctx.account()}/consolidate", json=body)


def _relation(ctx: Ctx) -> dict[str, Any]:
    return _meta(relation_schema_key="household", target_object_id=ctx.account("usr-1003"))


@scenario("accounts.add_relation")
async def _add_relation(ctx: Ctx) -> httpx2.Response:
    return await ctx.client.post(f"{API}/accounts/{ctx.account()}/add-relation", json=_relation(ctx))


@scenario("accounts.list_relations")
async def _list_relations(ctx: Ctx) -> httpx2.Response:
    await _add_relation(ctx)
    return await ctx.client.get(
        f"{API}/accounts/{ctx.account()}/relations", params={"filter[key]": "household"}
    )


@scenario("accounts.remove_relation")
async def _remove_relation(ctx: Ctx) -> httpx2.Response:
    await _add_relation(ctx)
    return await ctx.client.post(f"{API}/accounts/{ctx.account()}/remove-relation", json=_relation(ctx))


_simple(
    "accounts.run_action",
    "POST",
    lambda c: f"/accounts/{c.account()}/run-action",
    {"data": {"account-action-id": "acta_SandboxAction0000000000", "parameters": {}}},
)

# -- inquiries ------------------------------------------------------------------------------------------
_simple("inquiries.list", "GET", lambda c: "/inquiries?page[size]=2")
_simple(
    "inquiries.create",
    "POST",
    lambda c: "/inquiries",
    {
        "data": {
            "attributes": {"inquiry-template-id": "itmpl_p8ANAJy9iqadm2buF2xcVgqH", "note": "A helpful note"}
        },
        "meta": {
            "auto-create-account-reference-id": "abc-123",
            "auto-create-inquiry-session": True,
            "auto-create-one-time-link": True,
        },
    },
)
_simple(
    "inquiries.retrieve",
    "GET",
    lambda c: f"/inquiries/{c.inquiry('pending')}?include=sessions,inquiry-template",
)
_simple(
    "inquiries.update",
    "PATCH",
    lambda c: f"/inquiries/{c.inquiry('pending')}",
    {"data": {"attributes": {"note": "Checked"}}},
)
_simple("inquiries.redact", "DELETE", lambda c: f"/inquiries/{c.inquiry('completed')}")
_simple(
    "inquiries.search",
    "POST",
    lambda c: "/inquiries/search",
    {"query": {"attribute": "status", "operator": "eq", "value": "approved"}},
)
_simple(
    "inquiries.approve",
    "POST",
    lambda c: f"/inquiries/{c.inquiry('completed')}/approve",
    _meta(comment="Looks good"),
)
_simple(
    "inquiries.decline",
    "POST",
    lambda c: f"/inquiries/{c.inquiry('completed')}/decline",
    _meta(comment="Mismatch"),
)
_simple("inquiries.mark_for_review", "POST", lambda c: f"/inquiries/{c.inquiry('completed')}/mark-for-review")
_simple("inquiries.expire", "POST", lambda c: f"/inquiries/{c.inquiry('pending')}/expire")
_simple("inquiries.resume", "POST", lambda c: f"/inquiries/{c.inquiry('expired')}/resume")
_simple(
    "inquiries.generate_one_time_link",
    "POST",
    lambda c: f"/inquiries/{c.inquiry('pending')}/generate-one-time-link",
)
_simple("inquiries.print_pdf", "GET", lambda c: f"/inquiries/{c.inquiry('approved')}/print")
_simple(
    "inquiries.add_tag",
    "POST",
    lambda c: f"/inquiries/{c.inquiry('pending')}/add-tag",
    _meta(tag_name="priority"),
)
_simple(
    "inquiries.remove_tag",
    "POST",
    lambda c: f"/inquiries/{c.inquiry('pending')}/remove-tag",
    _meta(tag_name="priority"),
)
_simple(
    "inquiries.set_tags",
    "POST",
    lambda c: f"/inquiries/{c.inquiry('pending')}/set-tags",
    _meta(tag_name=["x", "y"]),
)
_simple(
    "inquiries.perform_simulate_actions",
    "POST",
    lambda c: f"/inquiries/{c.inquiry('created')}/perform-simulate-actions",
    _meta(simulate_actions=[{"type": "start_inquiry"}, {"type": "complete_inquiry"}]),
)
_simple(
    "inquiries.set_simulate_stubs",
    "PATCH",
    lambda c: f"/inquiries/{c.inquiry('created')}/set-simulate-stubs",
    _meta(fields_stubs={"name-first": "Jane", "birthdate": "1994-12-30"}),
)

# -- inquiry sessions -----------------------------------------------------------------------------------
_simple(
    "inquiry_sessions.list", "GET", lambda c: f"/inquiry-sessions?filter[inquiry-id]={c.inquiry('pending')}"
)


@scenario("inquiry_sessions.create")
async def _create_session(ctx: Ctx) -> httpx2.Response:
    body = {"data": {"attributes": {"inquiry-id": ctx.inquiry("pending")}}}
    return await ctx.client.post(f"{API}/inquiry-sessions", json=body)


_simple("inquiry_sessions.retrieve", "GET", lambda c: f"/inquiry-sessions/{c.active_session()}")
_simple("inquiry_sessions.expire", "POST", lambda c: f"/inquiry-sessions/{c.active_session()}/expire")
_simple(
    "inquiry_sessions.generate_one_time_link",
    "POST",
    lambda c: f"/inquiry-sessions/{c.active_session()}/generate-one-time-link",
)


@scenario("inquiry_sessions.expire_all")
async def _expire_all(ctx: Ctx) -> httpx2.Response:
    return await ctx.client.post(
        f"{API}/inquiry-sessions/expire-all", json=_meta(inquiry_ids=[ctx.inquiry("pending")])
    )


# -- lists ----------------------------------------------------------------------------------------------
@scenario("lists.list")
async def _list_lists(ctx: Ctx) -> httpx2.Response:
    await ctx.list_of("phone_number")
    return await ctx.client.get(f"{API}/lists", params={"page[size]": "2"})


@scenario("lists.retrieve")
async def _retrieve_list(ctx: Ctx) -> httpx2.Response:
    return await ctx.client.get(f"{API}/lists/{await ctx.list_of('phone_number')}")


@scenario("lists.archive")
async def _archive_list(ctx: Ctx) -> httpx2.Response:
    return await ctx.client.delete(f"{API}/lists/{await ctx.list_of('phone_number')}")


for _kind, (_plural, _values) in ITEM_VALUES.items():
    if _kind not in _SEEDED_LIST_KINDS:
        _simple(
            f"lists.create_{_kind}_list",
            "POST",
            lambda c, p=_plural: f"/list/{p}",
            {"data": {"attributes": {"name": "My List"}}},
        )

    def _item_scenarios(kind: str, plural: str, values: dict[str, Any]) -> None:
        async def create(ctx: Ctx) -> httpx2.Response:
            list_id = await ctx.list_of(kind)
            return await ctx.client.post(
                f"{API}/list-item/{plural}", json={"data": {"attributes": {"list-id": list_id, **values}}}
            )

        async def retrieve(ctx: Ctx) -> httpx2.Response:
            return await ctx.client.get(f"{API}/list-item/{plural}/{await ctx.item_of(kind)}")

        async def archive(ctx: Ctx) -> httpx2.Response:
            return await ctx.client.delete(f"{API}/list-item/{plural}/{await ctx.item_of(kind)}")

        SCENARIOS[f"list_items.create_{kind}"] = create
        SCENARIOS[f"list_items.retrieve_{kind}"] = retrieve
        SCENARIOS[f"list_items.archive_{kind}"] = archive

    _item_scenarios(_kind, _plural, _values)


# -- webhooks -------------------------------------------------------------------------------------------
def _webhook(ctx: Ctx) -> str:
    return ctx.find("webhook")


_simple("webhooks.list", "GET", lambda c: "/webhooks")
_simple(
    "webhooks.create",
    "POST",
    lambda c: "/webhooks",
    {
        "data": {
            "attributes": {
                "name": "Receiver",
                "url": "https://example.com/hooks",
                "enabled-events": ["account.created", "verification.created"],
                "api-attributes-blocklist": ["address-*"],
                "payload-filter": {"data": {"relationships": {}}},
            }
        }
    },
)
_simple("webhooks.retrieve", "GET", lambda c: f"/webhooks/{_webhook(c)}")
_simple(
    "webhooks.update",
    "PATCH",
    lambda c: f"/webhooks/{_webhook(c)}",
    {"data": {"attributes": {"url": "https://example.org/h"}}},
)
_simple("webhooks.archive", "POST", lambda c: f"/webhooks/{_webhook(c)}/archive")
_simple("webhooks.enable", "POST", lambda c: f"/webhooks/{_webhook(c)}/enable")
_simple("webhooks.disable", "POST", lambda c: f"/webhooks/{_webhook(c)}/disable")
_simple(
    "webhooks.rotate_secret",
    "POST",
    lambda c: f"/webhooks/{_webhook(c)}/rotate-secret",
    _meta(expires_in_seconds=3600),
)
_simple("webhooks.clone", "POST", lambda c: f"/webhooks/{_webhook(c)}/clone")

# -- events ---------------------------------------------------------------------------------------------
_simple("events.list", "GET", lambda c: "/events?page[size]=2")
_simple("events.retrieve", "GET", lambda c: f"/events/{c.state.events[0].id}")
