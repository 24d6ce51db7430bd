"""A Persona API emulator (ASGI) for tests, demos and benchmarks.

It stands in for Persona, so it imports nothing else from persona_mcp: sharing code with the client
could hide the very mismatches the sandbox exists to reveal.
"""

from persona_mcp.sandbox.app import create_app
from persona_mcp.sandbox.auth import TokenIssuer
from persona_mcp.sandbox.config import DEFAULT_API_KEY, SandboxConfig
from persona_mcp.sandbox.faults import Faults
from persona_mcp.sandbox.store import SandboxState

__all__ = ["DEFAULT_API_KEY", "Faults", "SandboxConfig", "SandboxState", "TokenIssuer", "create_app"]
