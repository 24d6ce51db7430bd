"""README's first command: `persona-mcp demo` runs the scripted session end to end and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_the_demo_runs_the_workflow_against_the_sandbox_and_verifies_the_audit_chain(tmp_path: Path) -> None:
    env = {**os.environ, "PERSONA_MCP_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    for name in ("PERSONA_API_KEY", "PERSONA_API_BASE_URL", "PERSONA_MCP_DATABASE_URL", "PERSONA_MCP_TOKEN"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "persona_mcp.cli", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for step in ("create_account", "create_inquiry", "approve_inquiry", "add_inquiry_tag", "list_events"):
        assert step in done.stdout
    assert "approved" in done.stdout
    assert "inquiry.approved" in done.stdout
    assert "hash chain and checkpoints verified" in done.stdout
    assert "pmcp_" not in done.stdout, "the scripted demo never prints its grant token"


@pytest.mark.slow
def test_demo_serve_prints_a_desktop_configuration_and_an_http_url(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "COLUMNS": "200"}
    env.pop("PERSONA_MCP_DATA_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "persona_mcp.cli", "demo", "--serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        seen: list[str] = []
        for line in process.stdout:
            seen.append(line)
            if "Ctrl-C" in line:
                break
        output = "".join(seen)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert '"mcpServers"' in output and '"PERSONA_MCP_TOKEN": "pmcp_' in output
    assert "http://127.0.0.1:" in output and "/mcp" in output
