"""Concurrent askers of one key share one lookup; cancellation and failure stay each asker's own."""

from __future__ import annotations

import asyncio

import pytest

from persona_mcp.single_flight import SingleFlight

pytestmark = pytest.mark.anyio


async def test_concurrent_askers_of_one_key_share_one_lookup_and_other_keys_do_not() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    release = asyncio.Event()

    async def load(key: str) -> str:
        await release.wait()
        return key.upper()

    askers = [asyncio.create_task(flights.run(k, lambda k=k: load(k))) for k in ["a"] * 10 + ["b"] * 5]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*askers) == ["A"] * 10 + ["B"] * 5
    assert flights.loads == 2
    assert await flights.run("a", lambda: load("a")) == "A" and flights.loads == 3  # a new flight


async def test_an_asker_cancelled_while_waiting_leaves_the_others_their_answer() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()

    async def load() -> int:
        await release.wait()
        return 7

    first = asyncio.create_task(flights.run("k", load))
    second = asyncio.create_task(flights.run("k", load))
    await asyncio.sleep(0)
    first.cancel()  # the one that started the lookup goes away
    await asyncio.wait([first])
    release.set()
    assert first.cancelled()
    assert await second == 7 and flights.loads == 1


async def test_a_failed_lookup_fails_its_askers_and_the_next_asker_tries_again() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    attempts: list[int] = []

    async def flaky() -> int:
        attempts.append(1)
        await asyncio.sleep(0.01)
        if len(attempts) == 1:
            raise ConnectionError("store unreachable")
        return 1

    results = await asyncio.gather(*(flights.run("k", flaky) for _ in range(3)), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 3
    assert await flights.run("k", flaky) == 1 and len(attempts) == 2
