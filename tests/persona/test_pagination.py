"""Cursor pagination: across pages by `page[after]`, bounded by a hard cap."""

from __future__ import annotations

import pytest

from persona_mcp.persona import PersonaClient, UnexpectedResponseError

from .conftest import FakePersona, Reply, account

pytestmark = pytest.mark.anyio


async def test_pagination_iterates_across_pages_in_order(client: PersonaClient, fake: FakePersona) -> None:
    fake.listing = [account(f"act_{n}") for n in range(25)]
    ids = [resource.id async for resource in client.paginate("/accounts", page_size=10)]
    assert ids == [f"act_{n}" for n in range(25)]
    assert [seen.query.get("page[after]") for seen in fake.seen] == [None, "act_9", "act_19"]
    assert {seen.query["page[size]"] for seen in fake.seen} == {"10"}


async def test_pagination_stops_at_the_hard_cap_without_fetching_more(
    client: PersonaClient, fake: FakePersona
) -> None:
    fake.listing = [account(f"act_{n}") for n in range(100)]
    ids = [resource.id async for resource in client.paginate("/accounts", page_size=10, max_items=23)]
    assert len(ids) == 23
    assert len(fake.seen) == 3
    assert fake.seen[-1].query["page[size]"] == "3"  # the last page asks only for what the cap leaves


async def test_pagination_keeps_the_callers_filters_on_every_page(
    client: PersonaClient, fake: FakePersona
) -> None:
    fake.listing = [account(f"act_{n}") for n in range(5)]
    found = [
        r.id async for r in client.paginate("/accounts", params={"filter[reference-id]": "r"}, page_size=2)
    ]
    assert len(found) == 5
    assert all(seen.query["filter[reference-id]"] == "r" for seen in fake.seen)


async def test_the_cap_and_page_size_are_checked_when_paginate_is_called(client: PersonaClient) -> None:
    with pytest.raises(ValueError, match="max_items"):
        client.paginate("/accounts", max_items=10_001)
    with pytest.raises(ValueError, match="max_items"):
        client.paginate("/accounts", max_items=0)
    with pytest.raises(ValueError, match="page_size"):
        client.paginate("/accounts", page_size=101)


async def test_a_next_link_that_repeats_a_cursor_stops_with_an_error(
    client: PersonaClient, fake: FakePersona
) -> None:
    looping = {"data": [account("act_1")], "links": {"next": "/api/v1/accounts?page%5Bafter%5D=act_1"}}
    fake.then(Reply(200, looping), Reply(200, looping))
    with pytest.raises(UnexpectedResponseError, match="repeats"):
        _ = [r async for r in client.paginate("/accounts")]
    assert len(fake.seen) == 2


async def test_a_malformed_cursor_is_not_sent_back(client: PersonaClient, fake: FakePersona) -> None:
    fake.then(Reply(200, {"data": [account("act_1")], "links": {"next": "/x?page%5Bafter%5D=a%2F..%2Fb"}}))
    with pytest.raises(UnexpectedResponseError, match="malformed"):
        _ = [r async for r in client.paginate("/accounts")]
    assert len(fake.seen) == 1


async def test_an_empty_page_ends_iteration_even_if_a_next_link_is_present(
    client: PersonaClient, fake: FakePersona
) -> None:
    fake.then(Reply(200, {"data": [], "links": {"next": "/api/v1/accounts?page%5Bafter%5D=act_9"}}))
    assert [r async for r in client.paginate("/accounts")] == []
