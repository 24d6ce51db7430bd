"""A separate OS process that needs a token at the same moment as its sibling (cross-process test).

Environment: PERSONA_MCP_DATABASE_URL, PERSONA_MCP_SECRET_KEY. It prints `ready`, waits for `go` on
stdin (so both workers start together), asks for a bearer token, and prints the SHA-256 of the token
(never the token itself).
"""

from __future__ import annotations

import hashlib
import os
import sys

import anyio
import structlog

from persona_mcp.auth.credentials import CredentialResolver
from persona_mcp.auth.credentials.secretbox import SecretBox, decode_key
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.events import DiscardEvents
from persona_mcp.config import Settings
from persona_mcp.store import create_store


async def main() -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout is the protocol
    store = create_store(os.environ["PERSONA_MCP_DATABASE_URL"])
    box = SecretBox.from_keys(decode_key(os.environ["PERSONA_MCP_SECRET_KEY"]))
    resolver = CredentialResolver(store, box, settings=Settings(), events=DiscardEvents())
    try:
        provider = await resolver.provider_for(Environment.PRODUCTION, "worker")
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("expected go")
        token = await provider.bearer_token()
        print(hashlib.sha256(token.encode()).hexdigest(), flush=True)
    finally:
        await store.close()


if __name__ == "__main__":
    anyio.run(main)
