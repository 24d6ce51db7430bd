"""Tool handlers against the sandbox: a Persona client over ASGI and a `call` helper.

`Upstream.call(name, **arguments)` validates the arguments with the tool's input model and runs its
handler through a `ToolContext`, exactly as the server pipeline does (minus authorisation and audit),
so the same tables can later drive the in-memory MCP client.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from persona_mcp.persona.client import PersonaClient, RetryPolicy
from persona_mcp.persona.credentials import ApiKeyCredential
from persona_mcp.sandbox import DEFAULT_API_KEY, SandboxConfig, SandboxState, create_app
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.tools import catalogue
from persona_mcp.tools.saved_files import FileOwner, SavedFiles, saved_files_dir
from persona_mcp.tools.spec import ToolContext

#: Who saves files in these tests (the server binds the caller's grant and principal).
OWNER = FileOwner("grt_tools_tests", "tools-tests")


async def _no_sleep(_seconds: float) -> None:
    return None


@dataclass
class Upstream:
    """A demo-seeded sandbox and a client bound to it."""

    persona: PersonaClient
    state: SandboxState
    data_dir: Path
    touched: list[str] = field(default_factory=list)

    @property
    def files(self) -> SavedFiles:
        return SavedFiles(saved_files_dir(self.data_dir), 3600)

    def context(self, *, write: bool, tool: str = "") -> ToolContext:
        key = str(uuid.uuid4()) if write else None
        ctx = ToolContext(persona=self.persona, idempotency_key=key, data_dir=self.data_dir)
        ctx.files = self.files.bound(OWNER, tool)
        return ctx

    async def call(self, tool: str, /, **arguments: Any) -> BaseModel:
        spec = catalogue.get(tool)
        args = spec.input_model.model_validate(arguments)
        ctx = self.context(write=spec.is_write, tool=tool)
        try:
            return await spec.handler(ctx, args)
        finally:
            self.touched = list(ctx.touched_ids)


@pytest.fixture
async def upstream(tmp_path: Path) -> AsyncIterator[Upstream]:
    app = create_app(SandboxConfig(seed="demo"))
    persona = PersonaClient(
        base_url="http://sandbox/api/v1",
        credentials=ApiKeyCredential(DEFAULT_API_KEY),
        transport=SandboxTransport(app),
        retry=RetryPolicy(max_retries=0),
        sleep=_no_sleep,
    )
    async with persona:
        yield Upstream(persona=persona, state=app.state.sandbox, data_dir=tmp_path)
