"""Cross-cutting protocol: auth, errors, headers, key inflection, pagination, filters, idempotency, events."""

from __future__ import annotations

import pytest

from .conftest import Sandbox

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("headers", "title"),
    [
        ({}, "Must be authenticated to access this endpoint"),
        ({"Authorization": "Bearer persona_sandbox_nope"}, "Token is invalid"),
    ],
)
async def test_missing_or_unknown_keys_get_401_with_persona_error(
    sandbox: Sandbox, headers: dict[str, str], title: str
) -> None:
    sandbox.client.headers.pop("Authorization")

    response = await sandbox.client.get("/api/v1/accounts", headers=headers)

    assert response.status_code == 401
    assert response.json() == {"errors": [{"title": title}]}


async def test_an_issuer_token_is_accepted(sandbox: Sandbox) -> None:
    import httpx2
    from starlette.routing import BaseRoute

    from persona_mcp.sandbox import SandboxConfig, create_app
    from persona_mcp.sandbox.transport import SandboxTransport

    class Issuer:
        def routes(self) -> list[BaseRoute]:
            return []

        def accepts(self, token: str) -> bool:
            return token == "oat_issued"

    app = create_app(SandboxConfig(token_issuer=Issuer()))
    async with httpx2.AsyncClient(transport=SandboxTransport(app), base_url="http://s") as client:
        ok = await client.get("/api/v1/accounts", headers={"Authorization": "Bearer oat_issued"})
        refused = await client.get("/api/v1/accounts", headers={"Authorization": "Bearer oat_other"})

    assert (ok.status_code, refused.status_code) == (200, 401)


async def test_every_response_carries_persona_headers(sandbox: Sandbox) -> None:
    for response in (
        await sandbox.client.get("/api/v1/accounts"),
        await sandbox.client.get("/api/v1/accounts/act_missing"),
    ):
        assert response.headers["request-id"].startswith("req_")
        assert response.headers["persona-environment-id"].startswith("env_")
        assert response.headers["persona-organization-id"].startswith("org_")
        assert int(response.headers["ratelimit-limit"]) >= int(response.headers["ratelimit-remaining"])
        assert int(response.headers["ratelimit-reset"]) > 0


async def test_unknown_objects_are_404_with_persona_error(sandbox: Sandbox) -> None:
    response = await sandbox.client.get("/api/v1/inquiries/inq_doesnotexist000000000000")

    assert response.status_code == 404
    assert response.json()["errors"][0]["title"] == "Record not found"


async def test_key_inflection_recases_keys_but_not_field_names(sandbox: Sandbox) -> None:
    account = await sandbox.create("/accounts", {"reference_id": "snake-in"})

    camel = await sandbox.client.get(f"/api/v1/accounts/{account['id']}", headers={"Key-Inflection": "camel"})
    refused = await sandbox.client.get("/api/v1/accounts", headers={"Key-Inflection": "shouting"})

    attributes = camel.json()["data"]["attributes"]
    assert attributes["referenceId"] == "snake-in" and "createdAt" in attributes
    assert "email_address" in attributes["fields"]
    assert refused.status_code == 400


async def test_page_size_out_of_range_is_a_400(sandbox: Sandbox) -> None:
    for size in ("0", "101", "x"):
        response = await sandbox.client.get("/api/v1/accounts", params={"page[size]": size})
        assert response.status_code == 400
        assert "page[size]" in response.json()["errors"][0]["details"]


async def test_cursors_walk_newest_first_forwards_and_back(demo: Sandbox) -> None:
    first = (await demo.client.get("/api/v1/accounts", params={"page[size]": "2"})).json()
    second = (await demo.client.get(first["links"]["next"])).json()
    back = (await demo.client.get(second["links"]["prev"])).json()
    references = [a["attributes"]["reference-id"] for page in (first, second) for a in page["data"]]

    assert references == ["usr-1005", "usr-1004", "usr-1003", "usr-1002"]
    assert first["links"]["prev"] is None
    assert first["links"]["next"].startswith("/api/v1/accounts?page%5Bsize%5D=2&page%5Bafter%5D=act_")
    assert [a["id"] for a in back["data"]] == [a["id"] for a in first["data"]]


async def test_the_last_page_has_no_next_link(demo: Sandbox) -> None:
    page = (await demo.client.get("/api/v1/accounts", params={"page[size]": "100"})).json()

    assert len(page["data"]) == 5 and page["links"]["next"] is None


async def test_list_filters_select_by_documented_parameters(demo: Sandbox) -> None:
    by_status = await demo.client.get("/api/v1/inquiries", params={"filter[status]": "approved,declined"})
    by_reference = await demo.client.get("/api/v1/accounts", params={"filter[reference-id]": "usr-1003"})
    archived_lists = await demo.client.get("/api/v1/lists", params={"filter[status]": "archived"})

    assert sorted(i["attributes"]["status"] for i in by_status.json()["data"]) == ["approved", "declined"]
    assert [a["attributes"]["reference-id"] for a in by_reference.json()["data"]] == ["usr-1003"]
    assert archived_lists.json()["data"] == []


async def test_search_combines_predicates(demo: Sandbox) -> None:
    query = {
        "or": [
            {"attribute": "status", "operator": "eq", "value": "failed"},
            {"attribute": "status", "operator": "eq", "value": "expired"},
        ]
    }

    found = await demo.client.post("/api/v1/inquiries/search", json={"query": query, "page": {"size": 5}})
    unknown = await demo.client.post(
        "/api/v1/inquiries/search", json={"query": {"attribute": "ssn", "operator": "eq", "value": 1}}
    )

    assert sorted(i["attributes"]["status"] for i in found.json()["data"]) == ["expired", "failed"]
    assert unknown.status_code == 400


async def test_events_are_recorded_and_filterable(demo: Sandbox) -> None:
    approved = demo.state.events_named(["inquiry.approved"])[0]

    listed = await demo.client.get("/api/v1/events", params={"filter[name]": "inquiry.approved"})
    by_object = await demo.client.get(
        "/api/v1/events", params={"filter[object-id]": approved.internal["object-id"]}
    )
    one = await demo.client.get(f"/api/v1/events/{approved.id}")

    assert [e["id"] for e in listed.json()["data"]] == [approved.id]
    assert {e["attributes"]["name"] for e in by_object.json()["data"]} >= {
        "inquiry.created",
        "inquiry.approved",
    }
    payload = one.json()["data"]["attributes"]["payload"]["data"]
    assert payload["type"] == "inquiry" and payload["attributes"]["status"] == "approved"


async def test_an_idempotent_replay_returns_the_same_object_without_a_second_one(sandbox: Sandbox) -> None:
    body = {"data": {"attributes": {"reference-id": "idem"}}}
    headers = {"Idempotency-Key": "key-1"}

    first = await sandbox.client.post("/api/v1/accounts", json=body, headers=headers)
    replay = await sandbox.client.post("/api/v1/accounts", json=body, headers=headers)
    different = await sandbox.client.post(
        "/api/v1/accounts", json={"data": {"attributes": {}}}, headers=headers
    )

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()
    assert sandbox.state.created_count("account") == 1
    assert len(sandbox.state.events_named(["account.created"])) == 1
    assert different.status_code == 409
    assert different.json()["errors"][0]["title"] == "Idempotency key reused"


async def test_idempotency_keys_are_scoped_per_api_key(sandbox: Sandbox) -> None:
    import httpx2

    from persona_mcp.sandbox import SandboxConfig, create_app
    from persona_mcp.sandbox.transport import SandboxTransport

    app = create_app(SandboxConfig(api_keys=frozenset({"persona_sandbox_a", "persona_sandbox_b"})))
    body = {"data": {"attributes": {}}}
    async with httpx2.AsyncClient(transport=SandboxTransport(app), base_url="http://s") as client:
        for key in ("a", "b"):
            headers = {"Authorization": f"Bearer persona_sandbox_{key}", "Idempotency-Key": "same"}
            assert (await client.post("/api/v1/accounts", json=body, headers=headers)).status_code == 201

    assert app.state.sandbox.created_count("account") == 2


async def test_a_stored_error_is_replayed_but_a_401_is_not_stored(sandbox: Sandbox) -> None:
    headers = {"Idempotency-Key": "k"}
    bad = {"data": {"attributes": {"email-address": "nope"}}}
    unauthenticated = await sandbox.client.post(
        "/api/v1/accounts", json=bad, headers={**headers, "Authorization": "Bearer x"}
    )
    first = await sandbox.client.post("/api/v1/accounts", json=bad, headers=headers)
    replay = await sandbox.client.post("/api/v1/accounts", json=bad, headers=headers)

    assert unauthenticated.status_code == 401
    assert (first.status_code, replay.status_code) == (422, 422)
