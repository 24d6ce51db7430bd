"""Inquiry statuses move as PROTOCOL.md section 14 says, refusals are 409s, and each move is an event."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Sandbox

pytestmark = pytest.mark.anyio

TEMPLATE = {"inquiry-template-id": "itmpl_TestTemplate0000000000000"}


async def _inquiry(sandbox: Sandbox, **meta: Any) -> dict[str, Any]:
    return await sandbox.create("/inquiries", TEMPLATE, meta or None)


async def _status(sandbox: Sandbox, inquiry_id: str) -> str:
    response = await sandbox.client.get(f"/api/v1/inquiries/{inquiry_id}")
    status: str = response.json()["data"]["attributes"]["status"]
    return status


async def test_a_new_inquiry_is_created_with_an_account_and_an_event(sandbox: Sandbox) -> None:
    inquiry = await _inquiry(sandbox)

    assert inquiry["id"].startswith("inq_") and len(inquiry["id"]) == 28
    assert inquiry["attributes"]["status"] == "created"
    assert inquiry["relationships"]["account"]["data"]["id"].startswith("act_")
    assert [e.attributes["name"] for e in sandbox.state.events] == ["account.created", "inquiry.created"]


async def test_creating_an_inquiry_without_a_template_is_a_422_pointing_at_it(sandbox: Sandbox) -> None:
    response = await sandbox.client.post("/api/v1/inquiries", json={"data": {"attributes": {}}})

    assert response.status_code == 422
    assert response.json()["errors"][0]["source"]["pointer"] == "/data/attributes/inquiry-template-id"


async def test_simulated_user_actions_walk_the_inquiry_to_completed_then_approved(sandbox: Sandbox) -> None:
    inquiry_id = (await _inquiry(sandbox))["id"]
    actions = [{"type": "start_inquiry"}, {"type": "complete_inquiry"}]

    response = await sandbox.post(
        f"/inquiries/{inquiry_id}/perform-simulate-actions", {"simulate-actions": actions}
    )
    approved = await sandbox.post(f"/inquiries/{inquiry_id}/approve", {"comment": "ok"})

    assert response.json()["data"]["attributes"]["status"] == "completed"
    assert approved.json()["data"]["attributes"]["status"] == "approved"
    assert approved.json()["data"]["attributes"]["reviewer-comment"] == "ok"
    names = [e.attributes["name"] for e in sandbox.state.events if e.internal["object-id"] == inquiry_id]
    assert names == ["inquiry.created", "inquiry.started", "inquiry.completed", "inquiry.approved"]


async def test_simulate_stubs_fill_the_fields_when_the_inquiry_completes(sandbox: Sandbox) -> None:
    inquiry_id = (await _inquiry(sandbox))["id"]
    stubbed = await sandbox.client.patch(
        f"/api/v1/inquiries/{inquiry_id}/set-simulate-stubs",
        json={"meta": {"fields-stubs": {"name-first": "Ada"}}},
    )
    done = await sandbox.post(
        f"/inquiries/{inquiry_id}/perform-simulate-actions",
        {"simulate-actions": [{"type": "complete_inquiry"}]},
    )

    assert stubbed.status_code == 200
    assert done.json()["data"]["attributes"]["fields"]["name-first"]["value"] == "Ada"


@pytest.mark.parametrize("decision", ["approve", "decline"])
async def test_mark_for_review_is_refused_once_decided(sandbox: Sandbox, decision: str) -> None:
    inquiry_id = (await _inquiry(sandbox))["id"]
    await sandbox.post(f"/inquiries/{inquiry_id}/{decision}")

    response = await sandbox.post(f"/inquiries/{inquiry_id}/mark-for-review")

    assert response.status_code == 409
    assert response.json()["errors"][0]["title"] == "Conflict"


async def test_a_decided_inquiry_cannot_be_decided_again(sandbox: Sandbox) -> None:
    inquiry_id = (await _inquiry(sandbox))["id"]
    await sandbox.post(f"/inquiries/{inquiry_id}/decline")

    assert (await sandbox.post(f"/inquiries/{inquiry_id}/approve")).status_code == 409
    assert await _status(sandbox, inquiry_id) == "declined"


async def test_expiring_an_inquiry_expires_its_sessions_and_resume_brings_it_back_to_pending(
    sandbox: Sandbox,
) -> None:
    inquiry = await _inquiry(sandbox, **{"auto-create-inquiry-session": True})
    inquiry_id = inquiry["id"]

    expired = await sandbox.post(f"/inquiries/{inquiry_id}/expire")
    sessions = await sandbox.client.get("/api/v1/inquiry-sessions", params={"filter[inquiry-id]": inquiry_id})
    resumed = await sandbox.post(f"/inquiries/{inquiry_id}/resume")

    assert expired.json()["data"]["attributes"]["status"] == "expired"
    assert [s["attributes"]["status"] for s in sessions.json()["data"]] == ["expired"]
    assert resumed.status_code == 200
    assert resumed.json()["data"]["attributes"]["status"] == "pending"
    assert resumed.json()["meta"]["session-token"].count(".") == 2
    assert "inquiry-session.expired" in [e.attributes["name"] for e in sandbox.state.events]


async def test_resume_is_refused_unless_pending_or_expired(sandbox: Sandbox) -> None:
    inquiry_id = (await _inquiry(sandbox))["id"]

    response = await sandbox.post(f"/inquiries/{inquiry_id}/resume")

    assert response.status_code == 409
    assert "created" in response.json()["errors"][0]["details"]


async def test_a_redacted_inquiry_loses_its_pii_and_cannot_resume(sandbox: Sandbox) -> None:
    inquiry = await sandbox.create("/inquiries", {**TEMPLATE, "fields": {"name-first": "Ada"}, "note": "n"})
    await sandbox.post(f"/inquiries/{inquiry['id']}/expire")

    redacted = await sandbox.client.delete(f"/api/v1/inquiries/{inquiry['id']}")
    resumed = await sandbox.post(f"/inquiries/{inquiry['id']}/resume")

    attributes = redacted.json()["data"]["attributes"]
    assert attributes["redacted-at"] is not None
    assert attributes["fields"]["name-first"]["value"] is None
    assert resumed.status_code == 409


async def test_one_time_links_are_refused_for_expired_inquiries(sandbox: Sandbox) -> None:
    inquiry_id = (await _inquiry(sandbox))["id"]
    link = await sandbox.post(f"/inquiries/{inquiry_id}/generate-one-time-link")
    await sandbox.post(f"/inquiries/{inquiry_id}/expire")

    refused = await sandbox.post(f"/inquiries/{inquiry_id}/generate-one-time-link")

    assert link.json()["meta"]["one-time-link"].startswith("https://")
    assert link.json()["meta"]["one-time-link-short"].startswith("https://")
    assert refused.status_code == 409


async def test_expire_all_sessions_names_inquiries_in_meta(sandbox: Sandbox) -> None:
    first = await _inquiry(sandbox, **{"auto-create-inquiry-session": True})
    second = await _inquiry(sandbox, **{"auto-create-inquiry-session": True})

    response = await sandbox.post(
        "/inquiry-sessions/expire-all", {"inquiry-ids": [first["id"], second["id"]]}
    )
    again = await sandbox.post("/inquiry-sessions/expire-all", {"inquiry-ids": [first["id"]]})

    assert [s["attributes"]["status"] for s in response.json()["data"]] == ["expired", "expired"]
    assert again.json()["data"] == []


async def test_tags_are_added_removed_and_replaced_on_inquiries(sandbox: Sandbox) -> None:
    inquiry_id = (await _inquiry(sandbox))["id"]
    await sandbox.post(f"/inquiries/{inquiry_id}/add-tag", {"tag-name": "a"})
    await sandbox.post(f"/inquiries/{inquiry_id}/add-tag", {"tag-name": "b"})
    removed = await sandbox.post(f"/inquiries/{inquiry_id}/remove-tag", {"tag-name": "a"})
    replaced = await sandbox.post(f"/inquiries/{inquiry_id}/set-tags", {"tag-name": ["x", "y"]})

    assert removed.json()["data"]["attributes"]["tags"] == ["b"]
    assert replaced.json()["data"]["attributes"]["tags"] == ["x", "y"]


async def test_the_print_out_is_a_pdf(sandbox: Sandbox) -> None:
    inquiry_id = (await _inquiry(sandbox))["id"]

    response = await sandbox.client.get(f"/api/v1/inquiries/{inquiry_id}/print")

    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-1.4") and inquiry_id.encode() in response.content
