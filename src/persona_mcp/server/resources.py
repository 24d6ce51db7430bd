"""Files as MCP resources: what a tool saved, read back by the grant whose call saved it, and audited.

A remote client cannot open a path on the server's disk, so a tool that produces a file (the inquiry
PDF) answers with a resource link, `persona-mcp://files/<id>`, and the client reads the bytes with
`resources/read`. Every read is authorised again, the way a call of the originating tool would be (its
scope, pii:read for unmaskable results, the grant's tool lists, a live grant), and only for the grant
and principal that saved the file, before its retention ends. Every read ends in an audit record
(`tool` = `resources/read`, the originating tool in `details`), written before the bytes are returned:
if the record cannot be written, the read is refused.

A file of another grant is answered exactly like one that does not exist (a hidden resource must not
be told from a missing one); the record says which it was.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import mcp_types as types

from persona_mcp.auth.callers import Caller, TokenRefusal
from persona_mcp.auth.policy import decide
from persona_mcp.server import errors
from persona_mcp.server.session_info import SessionInfo, bounded
from persona_mcp.tools.saved_files import (
    READ_RESOURCE,
    FileOwner,
    SavedFile,
    SavedFileResult,
    SavedFiles,
    file_id_of,
)

if TYPE_CHECKING:
    from persona_mcp.server.pipeline import AnySpec, CallPipeline


def resource_links(result: Any) -> list[types.ResourceLink]:
    """The content blocks that point a client at the files a tool result names (none for most tools)."""
    if not isinstance(result, SavedFileResult):
        return []
    return [
        types.ResourceLink(
            type="resource_link",
            uri=result.uri,
            name=result.name,
            mime_type=result.mime_type,
            size=result.size,
            description=f"Unmasked personal data; readable by this grant until {result.expires_at}.",
        )
    ]


def unknown_resource(uri: str) -> errors.Refusal:
    # The SDK's own servers answer an unknown resource with "invalid params".
    return errors.Refusal(
        types.INVALID_PARAMS,
        f"Unknown resource: {_shown(uri)}. Files are readable only by the grant that saved them; call "
        "the tool that produced it (print_inquiry_pdf) again for a fresh link.",
        {"uri": _shown(uri)},
    )


def expired_resource(uri: str, tool: str, retention_seconds: float) -> errors.Refusal:
    return errors.Refusal(
        types.INVALID_PARAMS,
        f"Resource {uri} has expired (files are kept {retention_seconds:g} s) and is being deleted; call "
        f"{tool} again for a fresh link.",
        {"uri": uri, "expired": True},
    )


def _shown(uri: str) -> str:
    return bounded(uri) or ""


class FileResources:
    """`resources/list` and `resources/read` over the saved files, per caller."""

    def __init__(
        self,
        files: SavedFiles,
        pipeline: CallPipeline,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._files = files
        self._pipeline = pipeline
        self._specs = {spec.name: spec for spec in pipeline.exposed}
        self._clock = clock

    def _readable(self, caller: Caller, saved: SavedFile) -> AnySpec | None:
        spec = self._specs.get(saved.tool)
        if spec is None or saved.owner != _owner(caller):
            return None
        return spec

    async def list(self, caller: Caller | None) -> types.ListResourcesResult:
        """The caller's own files that are still readable (listing reads nothing, so it is not audited)."""
        if caller is None:
            return types.ListResourcesResult(resources=[])
        owned = await anyio.to_thread.run_sync(self._files.owned_by, _owner(caller))
        now = self._clock()
        listed: list[types.Resource] = []
        for saved in owned:
            spec = self._readable(caller, saved)
            if spec is None or not decide(caller.grant, spec, now=now, jwt_scopes=caller.jwt_scopes).allowed:
                continue
            listed.append(
                types.Resource(
                    uri=saved.uri,
                    name=saved.name,
                    mime_type=saved.mime_type,
                    size=saved.size,
                    description=f"From {saved.tool}; unmasked personal data; until {saved.expires_at_iso}.",
                )
            )
        return types.ListResourcesResult(resources=listed)

    async def read(
        self, caller: Caller | None, uri: str, session: SessionInfo, *, refusal: TokenRefusal | None = None
    ) -> types.ReadResourceResult:
        """The file's bytes, after the checks and the audit record. Raises `errors.Refusal` otherwise."""
        started = time.perf_counter()
        if caller is None:
            await self._pipeline.record_unauthenticated(
                refusal or TokenRefusal("no credentials"), READ_RESOURCE, session
            )
            raise errors.unauthenticated()
        file_id = file_id_of(uri)
        saved = await anyio.to_thread.run_sync(self._files.find, file_id) if file_id else None
        spec = self._readable(caller, saved) if saved is not None else None
        details: dict[str, Any] = {"uri": _shown(uri)}

        async def record(kind: str, object_ids: Sequence[str] = (), **outcome: str | None) -> None:
            await self._pipeline.record_access(
                caller,
                session,
                kind=kind,
                tool=READ_RESOURCE,
                scope=spec.scope if spec is not None else None,
                object_ids=object_ids,
                details=details,
                started=started,
                **outcome,
            )

        if saved is None or spec is None:
            if saved is None:
                reason = "unknown resource"
            elif saved.owner != _owner(caller):
                reason = "resource of another grant"
            else:
                reason = f"resource of a tool not exposed: {saved.tool}"
            await record("call.denied", decision="denied", reason=reason)
            raise unknown_resource(uri)
        details["tool"] = saved.tool
        objects = [saved.object_id] if saved.object_id else []
        decision = decide(caller.grant, spec, now=self._clock(), jwt_scopes=caller.jwt_scopes)
        if not decision.allowed:
            await record("call.denied", objects, decision="denied", reason=decision.reason)
            if decision.missing_scope is not None:
                raise errors.missing_scope(READ_RESOURCE, decision.missing_scope.value, decision.reason)
            raise errors.refused(READ_RESOURCE, decision.reason)
        retry_after = self._pipeline.rate_limiter.check(caller.grant)
        if retry_after is not None:
            await record("call.denied", objects, decision="denied", reason="rate limited")
            raise errors.rate_limited(retry_after)
        content = None
        if not self._files.expired(saved):
            content = await anyio.to_thread.run_sync(self._files.read, saved)
        if content is None:
            await record("call.outcome", objects, decision="allowed", outcome="error", error_kind="expired")
            raise expired_resource(saved.uri, saved.tool, self._files.max_age_seconds)
        await record("call.outcome", objects, decision="allowed", outcome="ok")
        blob = base64.b64encode(content).decode("ascii")
        return types.ReadResourceResult(
            contents=[types.BlobResourceContents(uri=saved.uri, mime_type=saved.mime_type, blob=blob)]
        )


def _owner(caller: Caller) -> FileOwner:
    return FileOwner(caller.grant.id, caller.principal)
