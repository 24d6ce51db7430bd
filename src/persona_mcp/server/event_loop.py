"""The event loop `serve` runs on: uvloop when it is installed (the `fast` extra), asyncio's otherwise.

uvloop runs the same asyncio code with a loop written in C (libuv): less time per socket event and per
callback, which is most of what a server spends between its own steps. It is optional: without it, or
with `PERSONA_MCP_EVENT_LOOP=asyncio`, the standard loop runs, with the same behaviour.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

EVENT_LOOP_ENV = "PERSONA_MCP_EVENT_LOOP"


def loop_options() -> dict[str, Any]:
    """`backend_options` for `anyio.run`: uvloop if importable and not switched off."""
    if os.environ.get(EVENT_LOOP_ENV, "").strip().lower() == "asyncio":
        return {}
    try:
        found = importlib.util.find_spec("uvloop") is not None
    except (ImportError, ValueError):
        found = False
    return {"use_uvloop": True} if found else {}


__all__ = ["EVENT_LOOP_ENV", "loop_options"]
