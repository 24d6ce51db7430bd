"""Signed document and selfie links from Persona reach the agent only with pii:read.

Persona's file links (`https://files.withpersona.com/...?access_token=...`) open a captured ID or selfie
without an API key for hours: the link is the personal data. A simulated government-id verification
carries them, as Persona's do, and its event payload is what `get_event` returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from persona_mcp.auth.scopes import Scope
from persona_mcp.pii import MASK, mask
from persona_mcp.testing import Harness, connected

pytestmark = pytest.mark.anyio

FILES_HOST = "files.withpersona.com"


async def _verification_event(h: Harness) -> str:
    """The id of the event a simulated passed government-id verification emits."""
    inquiry = next(
        r.id
        for r in h.sandbox.records.values()
        if r.type == "inquiry" and r.attributes["status"] == "pending"
    )
    action = {"type": "create_passed_verification", "verification_template_id": "vtmpl_Demo1"}
    simulated = await h.client.call_tool(
        "simulate_inquiry_actions", {"inquiry_id": inquiry, "actions": [action]}
    )
    assert not simulated.is_error, simulated.content
    return next(e.id for e in reversed(h.sandbox.events) if e.attributes["name"] == "verification.passed")


async def _event(tmp_path: Path, scopes: list[Scope]) -> tuple[str, dict[str, Any]]:
    async with connected(tmp_path, [Scope.INQUIRIES_WRITE, Scope.EVENTS_READ, *scopes]) as h:
        event = await _verification_event(h)
        result = await h.client.call_tool("get_event", {"event_id": event})
    assert not result.is_error and isinstance(result.structured_content, dict)
    return result.model_dump_json(by_alias=True), result.structured_content


async def test_signed_photo_links_are_masked_for_a_grant_without_pii_read(tmp_path: Path) -> None:
    wire, content = await _event(tmp_path, [])
    assert FILES_HOST not in wire and "access_token" not in wire
    attributes = content["payload"]["data"]["attributes"]
    assert attributes["front-photo-url"] == attributes["photo-urls"][0]["url"] == MASK


async def test_signed_photo_links_are_in_clear_for_a_grant_with_pii_read(tmp_path: Path) -> None:
    wire, content = await _event(tmp_path, [Scope.PII_READ])
    attributes = content["payload"]["data"]["attributes"]
    assert attributes["front-photo-url"].startswith(f"https://{FILES_HOST}/")
    assert "access_token=" in attributes["photo-urls"][0]["url"]
    assert FILES_HOST in wire


class _Unmarked(BaseModel):
    """A result model whose author forgot that a field can carry a file link."""

    note: str | None = None
    links: list[dict[str, Any]] = []


@pytest.mark.parametrize(
    "link",
    [
        "https://files.withpersona.com/selfie-photo.jpg?access_token=ACCESS_TOKEN",
        "https://withpersona.com/api/v1/files/tok_abc/front.jpg",
        "see HTTPS://FILES.WITHPERSONA.COM/id-front.jpg?access_token=x",
    ],
)
def test_a_file_link_is_masked_even_in_a_field_not_marked_pii(link: str) -> None:
    masked, changed = mask(_Unmarked, {"note": link, "links": [{"page": "front", "url": link}]})
    assert changed
    assert masked == {"note": MASK, "links": [{"page": "front", "url": MASK}]}


def test_other_links_and_values_are_left_alone() -> None:
    data = {"note": "https://example.com/withpersona.com/files", "links": [{"byte-size": 3}]}
    assert mask(_Unmarked, data) == (data, False)
