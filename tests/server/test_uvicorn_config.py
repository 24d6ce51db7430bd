"""The uvicorn settings every listener uses (server/serving.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_listener_loads_no_websocket_protocol() -> None:
    """MCP runs over stdio and streamable HTTP: uvicorn's default would import `wsproto` or `websockets`
    at every start (~12 ms of the cold start) to upgrade connections that nothing here serves."""
    script = textwrap.dedent(
        """
        import sys
        from persona_mcp.server.serving import uvicorn_config

        async def app(scope, receive, send):
            pass

        config = uvicorn_config(app, host="127.0.0.1", port=0)
        config.load()
        print(config.ws_protocol_class, sorted(m for m in sys.modules if m in ("wsproto", "websockets")))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None []"
