"""Accounts (redaction, consolidation, tags, relations), lists and items, webhooks behave like Persona's."""

from __future__ import annotations

import pytest

from .conftest import Sandbox

pytestmark = pytest.mark.anyio


async def test_a_duplicate_reference_id_is_a_409(sandbox: Sandbox) -> None:
    await sandbox.create("/accounts", {"reference-id": "u-1"})

    response = await sandbox.client.post(
        "/api/v1/accounts", json={"data": {"attributes": {"reference-id": "u-1"}}}
    )

    assert response.status_code == 409
    assert sandbox.state.created_count("account") == 1


async def test_a_reference_id_given_up_by_one_account_can_be_taken_by_another_and_no_longer_by_it(
    sandbox: Sandbox,
) -> None:
    """Reference ids are looked up, not scanned for; the look-up follows an account that changes its own."""
    first = await sandbox.create("/accounts", {"reference-id": "u-1"})
    changed = await sandbox.client.patch(
        f"/api/v1/accounts/{first['id']}", json={"data": {"attributes": {"reference-id": "u-2"}}}
    )
    assert changed.status_code == 200, changed.text

    second = await sandbox.create("/accounts", {"reference-id": "u-1"})
    taken = await sandbox.client.post(
        "/api/v1/accounts", json={"data": {"attributes": {"reference-id": "u-2"}}}
    )
    found = await sandbox.client.get("/api/v1/accounts", params={"filter[reference-id]": "u-1"})

    assert second["id"] != first["id"]
    assert taken.status_code == 409
    assert [account["id"] for account in found.json()["data"]] == [second["id"]]


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("email-address", "not-an-email"), ("country-code", "XX"), ("birthdate", "1990-13-45")],
)
async def test_invalid_account_attributes_are_422_with_a_pointer(
    sandbox: Sandbox, attribute: str, value: str
) -> None:
    response = await sandbox.client.post(
        "/api/v1/accounts", json={"data": {"attributes": {attribute: value}}}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["source"] == {"pointer": f"/data/attributes/{attribute}"}


async def test_redaction_removes_pii_and_the_account_stays_updatable(sandbox: Sandbox) -> None:
    account = await sandbox.create("/accounts", {"name-first": "Ada", "email-address": "ada@example.com"})

    redacted = (await sandbox.client.delete(f"/api/v1/accounts/{account['id']}")).json()["data"]["attributes"]
    updated = await sandbox.client.patch(
        f"/api/v1/accounts/{account['id']}", json={"data": {"attributes": {"name-first": "Bo"}}}
    )

    assert redacted["redacted-at"] is not None
    assert redacted["fields"]["name"]["value"]["first"]["value"] is None
    assert redacted["fields"]["email_address"]["value"] is None
    assert updated.json()["data"]["attributes"]["fields"]["name"]["value"]["first"]["value"] == "Bo"


async def test_consolidation_archives_sources_and_happens_only_once(sandbox: Sandbox) -> None:
    destination = await sandbox.create("/accounts", {"reference-id": "d"})
    source = await sandbox.create("/accounts", {"reference-id": "s"})

    first = await sandbox.post(
        f"/accounts/{destination['id']}/consolidate", {"source-account-ids": [source["id"]]}
    )
    second = await sandbox.post(
        f"/accounts/{destination['id']}/consolidate", {"source-account-ids": [source["id"]]}
    )
    new_inquiry = await sandbox.client.post(
        "/api/v1/inquiries",
        json={"data": {"attributes": {"inquiry-template-id": "itmpl_x", "account-id": source["id"]}}},
    )

    assert first.status_code == 202
    assert second.status_code == 409
    assert new_inquiry.status_code == 422
    assert [
        e.attributes["name"] for e in sandbox.state.events_named(["account.archived", "account.consolidated"])
    ] == [
        "account.archived",
        "account.consolidated",
    ]


async def test_account_tags_and_relations(sandbox: Sandbox) -> None:
    account = await sandbox.create("/accounts", {"tags": ["a"]})
    other = await sandbox.create("/accounts", {})
    tagged = await sandbox.post(f"/accounts/{account['id']}/add-tag", {"tag-name": "b"})
    await sandbox.post(
        f"/accounts/{account['id']}/add-relation",
        {"relation-schema-key": "k", "target-object-id": other["id"]},
    )
    related = await sandbox.client.get(f"/api/v1/accounts/{account['id']}/relations")
    removed = await sandbox.post(
        f"/accounts/{account['id']}/remove-relation",
        {"relation-schema-key": "k", "target-object-id": other["id"]},
    )
    missing_tag = await sandbox.post(f"/accounts/{account['id']}/add-tag", {})

    assert tagged.json()["data"]["attributes"]["tags"] == ["a", "b"]
    assert [r["id"] for r in related.json()["data"]] == [other["id"]]
    assert removed.status_code == 200
    assert missing_tag.status_code == 422
    event = sandbox.state.events_named(["account.added-relation"])[0]
    assert event.attributes["context"] == {"relation-schema-key": "k", "target-account-id": other["id"]}


async def test_list_items_need_a_list_of_their_type_and_a_value(sandbox: Sandbox) -> None:
    emails = await sandbox.create("/list/email-addresses", {"name": "Blocked"})
    countries = await sandbox.create("/list/countries", {"name": "Countries"})

    no_list = await sandbox.client.post(
        "/api/v1/list-item/email-addresses", json={"data": {"attributes": {"value": "a@b.co"}}}
    )
    no_value = await sandbox.client.post(
        "/api/v1/list-item/email-addresses", json={"data": {"attributes": {"list-id": emails["id"]}}}
    )
    wrong_list = await sandbox.client.post(
        "/api/v1/list-item/email-addresses",
        json={"data": {"attributes": {"list-id": countries["id"], "value": "a@b.co"}}},
    )
    bad_country = await sandbox.client.post(
        "/api/v1/list-item/countries",
        json={"data": {"attributes": {"list-id": countries["id"], "country-code": "USA"}}},
    )

    assert [r.status_code for r in (no_list, no_value, wrong_list, bad_country)] == [422, 422, 422, 422]
    assert no_list.json()["errors"][0]["source"]["pointer"] == "/data/attributes/list-id"
    assert no_value.json()["errors"][0]["source"]["pointer"] == "/data/attributes/value"


async def test_an_archived_list_item_stays_readable_and_only_under_its_own_type(sandbox: Sandbox) -> None:
    strings = await sandbox.create("/list/strings", {"name": "Strings"})
    item = await sandbox.create("/list-item/strings", {"list-id": strings["id"], "value": "bad"})

    archived = await sandbox.client.delete(f"/api/v1/list-item/strings/{item['id']}")
    again = await sandbox.client.get(f"/api/v1/list-item/strings/{item['id']}")
    wrong_segment = await sandbox.client.get(f"/api/v1/list-item/names/{item['id']}")

    assert item["id"].startswith("lin_")
    assert archived.json()["data"]["attributes"]["status"] == "archived"
    assert again.json()["data"]["attributes"]["archived-at"] is not None
    assert wrong_segment.status_code == 404
    assert wrong_segment.json()["errors"][0]["title"] == "Record not found"


async def test_an_archived_list_is_readable_and_takes_no_new_items(sandbox: Sandbox) -> None:
    names = await sandbox.create("/list/names", {"name": "Names"})

    await sandbox.client.delete(f"/api/v1/lists/{names['id']}")
    read = await sandbox.client.get(f"/api/v1/lists/{names['id']}")
    refused = await sandbox.client.post(
        "/api/v1/list-item/names",
        json={"data": {"attributes": {"list-id": names["id"], "name-first": "A", "name-last": "B"}}},
    )

    assert read.json()["data"]["attributes"]["status"] == "archived"
    assert refused.status_code == 409


async def test_webhook_creation_requires_url_name_and_events(sandbox: Sandbox) -> None:
    for missing in ("url", "name", "enabled-events"):
        attributes = {"url": "https://example.com/h", "name": "h", "enabled-events": ["*"]}
        del attributes[missing]
        response = await sandbox.client.post("/api/v1/webhooks", json={"data": {"attributes": attributes}})
        assert response.status_code == 422
        assert response.json()["errors"][0]["source"]["pointer"] == f"/data/attributes/{missing}"


async def test_webhooks_enable_disable_rotate_clone_and_archive(sandbox: Sandbox) -> None:
    hook = await sandbox.create(
        "/webhooks", {"url": "https://example.com/h", "name": "h", "enabled-events": ["*"]}
    )
    base = f"/webhooks/{hook['id']}"

    enabled = await sandbox.post(f"{base}/enable")
    disabled = await sandbox.post(f"{base}/disable")
    rotated = await sandbox.post(f"{base}/rotate-secret", {"expires-in-seconds": 60})
    cloned = await sandbox.post(f"{base}/clone")
    archived = await sandbox.post(f"{base}/archive")
    refused = await sandbox.post(f"{base}/enable")

    assert hook["attributes"]["status"] == "disabled"
    assert enabled.json()["data"]["attributes"]["status"] == "enabled"
    assert "secret" not in enabled.json()["data"]["attributes"]
    assert disabled.json()["data"]["attributes"]["status"] == "disabled"
    secrets = rotated.json()["data"]["attributes"]["secrets"]
    assert (
        rotated.json()["data"]["attributes"]["secret"] == secrets[0]["value"] != hook["attributes"]["secret"]
    )
    assert secrets[1]["value"] == hook["attributes"]["secret"] and secrets[1]["expires-at"] is not None
    assert (
        cloned.json()["data"]["id"] != hook["id"]
        and cloned.json()["data"]["attributes"]["url"] == "https://example.com/h"
    )
    assert archived.json()["data"]["attributes"]["status"] == "archived"
    assert refused.status_code == 409
