"""`DeferredApp`: a mounted part of the HTTP server that is built with its first request."""

from __future__ import annotations

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from persona_mcp.server.deferred import DeferredApp

pytestmark = pytest.mark.anyio


def _page(request: Request) -> PlainTextResponse:
    return PlainTextResponse("page")


async def test_the_app_is_built_by_its_first_request_and_only_once() -> None:
    builds: list[int] = []

    def build() -> Starlette:
        builds.append(1)
        return Starlette(routes=[Route("/", _page)])

    deferred = DeferredApp(build)
    server = Starlette(routes=[Route("/other", _page), Mount("/pages", app=deferred)])
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(server), base_url="http://test") as http:
        assert (await http.get("/other")).status_code == 200
        assert builds == [] and not deferred.built
        assert (await http.get("/pages/")).text == "page"
        assert (await http.get("/pages/")).text == "page"
    assert builds == [1] and deferred.built


async def test_a_build_that_fails_fails_its_request_and_the_next_request_builds_again() -> None:
    attempts: list[int] = []

    def build() -> Starlette:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("not yet")
        return Starlette(routes=[Route("/", _page)])

    server = Starlette(routes=[Mount("/pages", app=DeferredApp(build))])
    transport = httpx2.ASGITransport(server, raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/pages/")).status_code == 500
        assert (await http.get("/pages/")).text == "page"
    assert len(attempts) == 2


async def test_a_build_that_waits_is_made_once_for_concurrent_first_requests() -> None:
    """Over HTTP the console's build waits for the assembled server (`server/http.py`)."""
    builds: list[int] = []
    opened = anyio.Event()

    async def build() -> Starlette:
        await opened.wait()
        builds.append(1)
        return Starlette(routes=[Route("/", _page)])

    server = Starlette(routes=[Mount("/pages", app=DeferredApp(build))])
    pages: list[str] = []
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(server), base_url="http://test") as http:

        async def get_page() -> None:
            pages.append((await http.get("/pages/")).text)

        async with anyio.create_task_group() as tasks:
            for _ in range(3):
                tasks.start_soon(get_page)
            await anyio.wait_all_tasks_blocked()
            assert pages == [] and builds == []
            opened.set()
    assert pages == ["page"] * 3 and builds == [1]
