"""Dependency arrows that must hold at import time, checked in a fresh interpreter each.

`config` is the bottom layer (settings only), `persona` sits on it, and `audit` must not reach into
`auth` (both sit on `store`): importing the lower module must not load the higher packages.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_LOADED = """
import json, sys
import {module}
print(json.dumps(sorted(name for name in sys.modules if name.startswith("persona_mcp."))))
"""


def _loaded_by(module: str) -> list[str]:
    """The persona_mcp modules a fresh interpreter holds after importing `module`."""
    completed = subprocess.run(
        [sys.executable, "-c", _LOADED.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded: list[str] = json.loads(completed.stdout)
    return loaded


def _within(loaded: list[str], *packages: str) -> list[str]:
    return [name for name in loaded if any(name == p or name.startswith(p + ".") for p in packages)]


@pytest.mark.parametrize("module", ["persona_mcp.config", "persona_mcp.persona.client"])
def test_config_and_the_persona_client_load_no_auth_server_tools_or_audit_module(module: str) -> None:
    loaded = _loaded_by(module)
    assert module in loaded
    higher = ("persona_mcp.auth", "persona_mcp.server", "persona_mcp.tools", "persona_mcp.audit")
    assert _within(loaded, *higher) == []


def test_the_audit_package_loads_nothing_from_auth() -> None:
    loaded = _loaded_by("persona_mcp.audit")
    assert "persona_mcp.audit.admin" in loaded
    assert _within(loaded, "persona_mcp.auth") == []


def test_moved_names_are_still_importable_from_their_old_modules() -> None:
    from persona_mcp import admin_events, config
    from persona_mcp.auth import environment, events, settings

    assert environment.Environment is config.Environment
    assert settings.OAuthSettings is config.OAuthSettings
    assert events.AdminEventSink is admin_events.AdminEventSink
    assert events.DiscardEvents is admin_events.DiscardEvents
