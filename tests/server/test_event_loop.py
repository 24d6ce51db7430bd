"""`serve` runs on uvloop when it is installed (the `fast` extra) and on asyncio's loop otherwise."""

from __future__ import annotations

import importlib.util

import anyio
import pytest

from persona_mcp.server.event_loop import EVENT_LOOP_ENV, loop_options


def test_uvloop_is_used_when_installed_unless_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = importlib.util.find_spec("uvloop") is not None
    monkeypatch.delenv(EVENT_LOOP_ENV, raising=False)
    assert loop_options() == ({"use_uvloop": True} if installed else {})
    monkeypatch.setenv(EVENT_LOOP_ENV, "asyncio")
    assert loop_options() == {}


def test_without_uvloop_the_standard_loop_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def hide_uvloop(name: str, *args: object, **kwargs: object) -> object:
        return None if name == "uvloop" else real(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.delenv(EVENT_LOOP_ENV, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", hide_uvloop)
    assert loop_options() == {}

    async def loop_name() -> str:
        import asyncio

        return type(asyncio.get_running_loop()).__module__

    assert anyio.run(loop_name, backend_options=loop_options()).startswith("asyncio")


@pytest.mark.skipif(
    importlib.util.find_spec("uvloop") is None, reason="uvloop (the fast extra) not installed"
)
def test_with_uvloop_installed_serve_runs_on_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EVENT_LOOP_ENV, raising=False)

    async def loop_name() -> str:
        import asyncio

        return type(asyncio.get_running_loop()).__module__

    assert anyio.run(loop_name, backend_options=loop_options()).startswith("uvloop")
