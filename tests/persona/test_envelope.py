"""The JSON:API envelope models, read against Persona's documented examples (the pinned copy)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from persona_mcp.persona import Document, Links, Resource, UnexpectedResponseError


def _example(family: str, name: str) -> dict[str, Any]:
    text = (
        resources.files("persona_mcp.contract")
        .joinpath("examples")
        .joinpath(family)
        .joinpath(name)
        .read_text()
    )
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _all_examples() -> list[tuple[str, str]]:
    root = resources.files("persona_mcp.contract").joinpath("examples")
    return sorted(
        (family.name, entry.name)
        for family in root.iterdir()
        if family.is_dir()
        for entry in family.iterdir()
        if entry.name.endswith(".json")
    )


@pytest.mark.parametrize(("family", "name"), _all_examples())
def test_every_documented_example_parses_as_a_document(family: str, name: str) -> None:
    body = _example(family, name)
    document = Document.model_validate(body)
    if isinstance(body.get("data"), list):
        assert [r.id for r in document.many()] == [item["id"] for item in body["data"]]
    elif isinstance(body.get("data"), dict):
        assert document.one().id == body["data"]["id"]


def test_a_list_example_exposes_resources_relationships_and_the_next_cursor() -> None:
    document = Document.model_validate(_example("accounts", "list.json"))
    first = document.many()[0]
    assert first.type == "account" and first.id.startswith("act_")
    assert first.related_ids("account-type") == ["acttp_7X5W5w9GMtQntE6oPtKnj44c"]
    assert first.related_ids("no-such-relationship") == []
    assert document.links.next_cursor() == "act_hpNqyAbEG4HeVjZoBRNCMKkA"
    assert document.links.prev_cursor() is None


def test_unknown_members_are_kept_rather_than_rejected() -> None:
    document = Document.model_validate(
        {
            "data": {"type": "verification/shiny-new", "id": "ver_1", "attributes": {}, "links": {"x": 1}},
            "jsonapi": {"version": "1.0"},
        }
    )
    resource = document.one()
    assert resource.type == "verification/shiny-new"
    assert resource.model_extra == {"links": {"x": 1}}
    assert document.model_extra == {"jsonapi": {"version": "1.0"}}


def test_to_many_and_null_relationships_give_lists_of_ids() -> None:
    resource = Resource.model_validate(
        {
            "type": "inquiry",
            "id": "inq_1",
            "relationships": {
                "verifications": {
                    "data": [{"type": "verification/selfie", "id": "ver_1"}, {"type": "x", "id": "ver_2"}]
                },
                "account": {"data": None},
                "reviewer": {"data": {}},  # how the docs render a null target
            },
        }
    )
    assert resource.related_ids("verifications") == ["ver_1", "ver_2"]
    assert resource.related_ids("account") == []
    assert resource.related_ids("reviewer") == []


def test_one_refuses_a_list_and_many_accepts_a_single_resource() -> None:
    listed = Document.model_validate({"data": [{"type": "account", "id": "act_1"}]})
    with pytest.raises(UnexpectedResponseError, match="expected a single resource, got a list"):
        listed.one()
    single = Document.model_validate({"data": {"type": "account", "id": "act_1"}})
    assert [r.id for r in single.many()] == ["act_1"]
    assert Document().many() == []
    with pytest.raises(UnexpectedResponseError):
        Document().one()


def test_cursors_are_read_from_encoded_or_literal_brackets() -> None:
    links = Links(
        next="/api/v1/accounts?page%5Bsize%5D=2&page%5Bafter%5D=act_B",
        prev="https://api.withpersona.com/api/v1/accounts?page[before]=act_A",
    )
    assert links.next_cursor() == "act_B"
    assert links.prev_cursor() == "act_A"
    assert Links(next="/api/v1/accounts?page%5Bsize%5D=2").next_cursor() is None


def test_included_resources_are_found_by_type_and_id() -> None:
    document = Document.model_validate(
        {
            "data": {"type": "inquiry", "id": "inq_1"},
            "included": [{"type": "account", "id": "act_1", "attributes": {"reference-id": "r"}}],
        }
    )
    found = document.included_by_id("account", "act_1")
    assert found is not None and found.attributes["reference-id"] == "r"
    assert document.included_by_id("account", "act_2") is None
