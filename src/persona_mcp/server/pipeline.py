"""A tool call, end to end: authenticate, authorize, validate, intent, call Persona, outcome, answer.

Every call ends in an audit record before its result returns, whatever happens on the way: a refusal,
bad arguments, an upstream error, a cancellation. A write gets a durable intent record (carrying the
Idempotency-Key Persona will see) before the upstream request. If the audit log cannot be written the
call is refused: no unaudited action.
"""

from __future__ import annotations

import asyncio
import json
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import anyio
import mcp_types as types
import structlog
from pydantic import ValidationError
from pydantic_core import to_json

from persona_mcp.audit import AuditEvent, AuditLog, AuditStalledError, AuditUnavailableError
from persona_mcp.auth.approval_policy import approval_requirement
from persona_mcp.auth.callers import Caller, TokenRefusal
from persona_mcp.auth.credentials import CredentialResolver, CredentialStore, CredentialUnavailableError
from persona_mcp.auth.policy import Decision, decide, visible
from persona_mcp.auth.ratelimit import GrantRateLimiter
from persona_mcp.auth.scopes import Scope
from persona_mcp.events.service import Events
from persona_mcp.persona.client import Exchange, PersonaClient
from persona_mcp.persona.errors import PersonaError
from persona_mcp.pii import mask
from persona_mcp.server import errors
from persona_mcp.server.approvals import ApprovalGate, Held, Refused
from persona_mcp.server.dry_run import (
    RequestCaptured,
    dry_run_client,
    dry_run_result,
    masked_body,
    split_dry_run,
)
from persona_mcp.server.resources import resource_links
from persona_mcp.server.session_info import SessionInfo, bounded
from persona_mcp.tools.audit_log import AuditReader, reader_for
from persona_mcp.tools.named_ids import named_object_ids
from persona_mcp.tools.recovery import explain, validation_message
from persona_mcp.tools.saved_files import FileOwner, SavedFiles
from persona_mcp.tools.spec import Progress, ToolContext, ToolSpec

log = structlog.get_logger("persona_mcp.call")

AnySpec = ToolSpec[Any, Any]


class CallObserver(Protocol):
    """What the pipeline tells monitoring (implemented by `server.observe.Observer`)."""

    def recorded(self, event: Mapping[str, Any], *, append_seconds: float, failed: bool) -> None: ...


#: Arguments larger than this are recorded as size + digest only (valid tool inputs are far smaller).
MAX_RECORDED_ARGUMENT_BYTES = 16 * 1024
#: At most this many argument ids are named (and indexed) per record: valid inputs name far fewer (lists
#: of ids hold at most 100), and a client must not be able to bloat the log with an id list.
MAX_NAMED_OBJECT_IDS = 200


@dataclass(slots=True)
class _CallRecord:
    """Accumulates what the outcome record will say."""

    call_id: str
    started: float
    exchanges: list[Exchange] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)
    #: The request's progress reporter (a no-op unless the client sent a progressToken).
    progress: Progress | None = None
    #: The approval this call used (its records name it), if it needed one.
    approval_id: str | None = None


class CallPipeline:
    """Runs tool calls for authenticated callers against the exposed catalogue."""

    def __init__(
        self,
        *,
        exposed: Sequence[AnySpec],
        persona: PersonaClient,
        credentials: CredentialResolver,
        audit: AuditLog,
        rate_limiter: GrantRateLimiter,
        data_dir: Path,
        audit_reader: AuditReader | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        files: SavedFiles | None = None,
        observer: CallObserver | None = None,
        gate: ApprovalGate | None = None,
    ) -> None:
        self._specs = {spec.name: spec for spec in exposed}
        self._observer = observer
        self._order = [spec.name for spec in exposed]
        self._persona = persona
        self._credentials = credentials
        self._audit = audit
        self._rate = rate_limiter
        self._data_dir = data_dir
        self._audit_reader = audit_reader
        self._clock = clock
        self._files = files
        self._gate = gate
        #: The events component (set by `open_server`): tools read the local event store through it.
        self.events: Events | None = None

    @property
    def rate_limiter(self) -> GrantRateLimiter:
        """The per-grant limiter; the HTTP transport charges session openings to it as well."""
        return self._rate

    def in_flight(self) -> AbstractContextManager[None]:
        """Around each tools/call: while other calls run, audit appends share commits (an append waits for
        the other calls' appends, or joins the writer thread's batch) instead of each committing alone
        (see `AuditLog.call_in_flight`)."""
        return self._audit.call_in_flight()

    @property
    def credential_store(self) -> CredentialStore:
        """The stored upstream credentials (the console shows their status, never a secret)."""
        return self._credentials.credentials

    @property
    def exposed(self) -> list[AnySpec]:
        return [self._specs[name] for name in self._order]

    def visible_to(self, caller: Caller | None) -> list[AnySpec]:
        """Exactly the tools this caller's grant allows (the same rule `call` applies)."""
        if caller is None:
            return []
        return visible(caller.grant, self.exposed, now=self._clock(), jwt_scopes=caller.jwt_scopes)

    def _visible_names(self, caller: Caller) -> list[str]:
        """Names of the caller's tools: the only ones an error message may suggest."""
        return [spec.name for spec in self.visible_to(caller)]

    def _decide(self, caller: Caller, spec: AnySpec, now: datetime) -> Decision:
        return decide(caller.grant, spec, now=now, jwt_scopes=caller.jwt_scopes)

    async def record_refusal(
        self,
        caller: Caller,
        name: str,
        arguments: Mapping[str, Any] | None,
        session: SessionInfo,
        reason: str,
    ) -> None:
        """The denial record of a call refused before it reached `call` (the HTTP step-up challenge)."""
        record = _CallRecord(call_id=uuid.uuid4().hex, started=time.perf_counter())
        await self._deny(record, caller, self._specs.get(name), name, arguments or {}, session, reason)

    async def record_unauthenticated(
        self,
        refusal: TokenRefusal,
        tool: str | None,
        session: SessionInfo,
        *,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """The denial record of a request whose token was refused (HTTP 401, or stdio's bad token).

        The grant the token names, if any, and its principal are recorded; the arguments are not: an
        unauthenticated sender chose them, and they would only bloat the append-only log.
        """
        event = {
            "kind": "call.denied",
            "call_id": uuid.uuid4().hex,
            "principal": refusal.principal,
            "grant_id": refusal.grant_id,
            "session_id": session.session_id,
            "client_name": session.client_name,
            "client_version": session.client_version,
            "tool": bounded(tool),
            "scope": self._specs[tool].scope.value if tool in self._specs else None,
            "decision": "denied",
            "reason": f"unauthenticated: {reason or refusal.reason}",
            "details": dict(details) if details else None,
        }
        await self._append(event)

    async def call(
        self,
        caller: Caller | None,
        name: str,
        arguments: Mapping[str, Any] | None,
        session: SessionInfo,
        *,
        refusal: TokenRefusal | None = None,
        progress: Progress | None = None,
    ) -> types.CallToolResult:
        """Run one tools/call. Raises `errors.Refusal` for refusals (after recording them).

        `refusal` says why there is no caller (and which grant the token names), for the record;
        `progress` reports progress of a long call to the client (`wait_for`)."""
        record = _CallRecord(call_id=uuid.uuid4().hex, started=time.perf_counter(), progress=progress)
        raw_args: Mapping[str, Any] = arguments or {}
        spec = self._specs.get(name)

        if caller is None:
            await self.record_unauthenticated(refusal or TokenRefusal("no credentials"), name, session)
            raise errors.unauthenticated()
        if spec is None:
            await self._deny(record, caller, None, name, raw_args, session, "unknown tool")
            raise errors.unknown_tool(name, self._visible_names(caller))
        decision = self._decide(caller, spec, self._clock())
        if not decision.allowed:
            await self._deny(record, caller, spec, name, raw_args, session, decision.reason)
            if decision.missing_scope is not None:
                raise errors.missing_scope(name, decision.missing_scope.value, decision.reason)
            raise errors.refused(name, decision.reason)
        retry_after = self._rate.check(caller.grant)
        if retry_after is not None:
            await self._deny(record, caller, spec, name, raw_args, session, "rate limited")
            raise errors.rate_limited(retry_after)

        dry_run, raw_args = split_dry_run(spec, raw_args)
        if dry_run is None:
            await self._append(
                self._event(record, "call.outcome", caller, spec, raw_args, session, validated=False)
                | {"decision": "allowed", "outcome": "error", "error_kind": "invalid_arguments"}
            )
            return errors.tool_error(
                "dry_run must be true or false: true answers with the request without sending it.",
                kind="invalid_arguments",
                retry_safe=None,
            )
        try:
            args = spec.input_model.model_validate(raw_args)
        except ValidationError as exc:
            await self._append(
                self._event(record, "call.outcome", caller, spec, raw_args, session, validated=False)
                | {"decision": "allowed", "outcome": "error", "error_kind": "invalid_arguments"}
            )
            message = validation_message(spec, exc, visible=self._visible_names(caller))
            return errors.tool_error(message, kind="invalid_arguments", retry_safe=None)

        if spec.is_write and (dry_run or self._gate is not None):
            # Limits per tool, the circuit breaker and four-eyes approvals (server/approvals.py).
            held = await self._gate_call(record, caller, spec, args, raw_args, session, dry_run=dry_run)
            if held is not None:
                return held
        idempotency_key = str(uuid.uuid4()) if spec.is_write else None
        # While the store is known to be failing, a read too must get its intent in first: if that fails
        # the read is refused before it reaches Persona; if it succeeds, the store is back.
        intent: _Intent | None = None
        if spec.is_write or self._audit.store_failing:
            intent = self._start_intent(
                self._event(record, "call.intent", caller, spec, raw_args, session)
                | {"idempotency_key": idempotency_key}
            )
        try:
            try:
                result = await self._run(record, caller, spec, args, idempotency_key, intent)
            finally:
                if intent is not None:
                    await intent.durable()  # a handler that sent nothing has not waited for it yet
        except _IntentUnrecorded as unrecorded:
            # The client waits for the intent before it sends anything: nothing reached Persona.
            raise unrecorded.refusal from None
        except anyio.get_cancelled_exc_class():
            # A cancelled write may already have reached Persona: its outcome is unknown, not an error,
            # so `audit query --unresolved` lists it for a reviewer to check.
            with anyio.CancelScope(shield=True):
                await self._outcome(
                    record,
                    caller,
                    spec,
                    raw_args,
                    session,
                    idempotency_key,
                    "unknown" if spec.is_write else "error",
                    error_kind="cancelled",
                )
            raise
        except PersonaError as exc:
            failure = explain(spec, exc, raw_args, visible=self._visible_names(caller))
            await self._outcome(
                record,
                caller,
                spec,
                raw_args,
                session,
                idempotency_key,
                "unknown" if _outcome_unknown(spec, exc) else "error",
                error_kind=failure.kind,
                error_type=type(exc).__name__,
            )
            return errors.tool_error(failure.message, kind=failure.kind, retry_safe=failure.retry_safe)
        except CredentialUnavailableError as exc:
            # A token refresh can fail between retries, after an attempt that may have been applied.
            applied = _write_may_have_applied(spec, record)
            await self._outcome(
                record,
                caller,
                spec,
                raw_args,
                session,
                idempotency_key,
                "unknown" if applied else "error",
                error_kind="credential",
            )
            return errors.tool_error(
                str(exc), kind="credential_unavailable", retry_safe=False if applied else not exc.permanent
            )
        except Exception as exc:
            # Where it failed, never what the exception says: its message may carry personal data.
            log.error(
                "tool handler failed",
                tool=spec.name,
                call_id=record.call_id,
                error_type=type(exc).__name__,
                frames="".join(traceback.format_tb(exc.__traceback__)),
            )
            # A handler failing after a write reached Persona leaves its effect unknown, not failed.
            outcome = "unknown" if _write_may_have_applied(spec, record) else "error"
            await self._outcome(
                record, caller, spec, raw_args, session, idempotency_key, outcome, error_kind="internal"
            )
            return errors.tool_error(
                f"{spec.name} failed inside the server (call id {record.call_id}); the administrator "
                "can find it in the server log.",
                kind="internal",
                retry_safe=not spec.is_write,
            )
        await self._outcome(record, caller, spec, raw_args, session, idempotency_key, "ok")
        return self._answer(caller, spec, result)

    async def _gate_call(
        self,
        record: _CallRecord,
        caller: Caller,
        spec: AnySpec,
        args: Any,
        raw_args: Mapping[str, Any],
        session: SessionInfo,
        *,
        dry_run: bool,
    ) -> types.CallToolResult | None:
        """The gate's answer for a call that must not run now (held, refused, a dry run), or None."""
        if dry_run:
            return await self._dry_run(record, caller, spec, args, raw_args, session)
        assert self._gate is not None
        verdict = await self._gate.admit(
            caller,
            spec,
            args,
            call_id=record.call_id,
            event=lambda kind: self._event(record, kind, caller, spec, raw_args, session),
        )
        if isinstance(verdict, Refused):
            await self._deny(record, caller, spec, spec.name, raw_args, session, verdict.reason)
            raise errors.tool_limited(spec.name, verdict.reason, verdict.retry_after_seconds)
        if isinstance(verdict, Held):
            return verdict.result
        record.approval_id = verdict.approval_id
        return None

    async def _dry_run(
        self,
        record: _CallRecord,
        caller: Caller,
        spec: AnySpec,
        args: Any,
        raw_args: Mapping[str, Any],
        session: SessionInfo,
    ) -> types.CallToolResult:
        """Run the handler against a client that captures its request; record `call.dry_run`."""
        if self._gate is not None:
            needed = await self._gate.requirement(caller, spec)
        else:  # no approvals store: the declaration and the grant decide
            needed = approval_requirement(
                caller.grant,
                tool=spec.name,
                declared=spec.approval_policy,
                high_risk=spec.high_risk,
                breaker_tripped=False,
            )
        ctx = ToolContext(
            persona=dry_run_client(self._persona), idempotency_key=None, data_dir=self._data_dir
        )
        try:
            await spec.handler(ctx, args)
        except RequestCaptured as captured:
            planned = captured.request
        else:  # pragma: no cover - every write tool sends one request
            raise RuntimeError(f"{spec.name} sent no request in a dry run")
        body, masked = planned.body, False
        if Scope.PII_READ not in caller.effective_scopes:
            body, masked = masked_body(spec, args, planned.body)
        approval = "required" if needed.required else "none"
        await self._append(
            self._event(record, "call.dry_run", caller, spec, raw_args, session)
            | {
                "decision": "allowed",
                "outcome": "ok",
                "reason": needed.reason,
                "upstream_method": planned.method,
                "upstream_path": planned.path,
                "latency_ms": round((time.perf_counter() - record.started) * 1000, 3),
                "details": {"dry_run": True, "approval": approval},
            }
        )
        return dry_run_result(
            spec, planned, body, masked=masked, approval=approval, approval_reason=needed.reason
        )

    async def _run(
        self,
        record: _CallRecord,
        caller: Caller,
        spec: AnySpec,
        args: Any,
        idempotency_key: str | None,
        intent: _Intent | None = None,
    ) -> Any:
        if spec.reaches_persona:
            provider = await self._credentials.provider_for(caller.grant.environment, caller.principal)
            persona = self._persona.bind(
                credentials=provider,
                on_exchange=record.exchanges.append,
                rate_budget=caller.grant.environment.value,  # Persona's limit is per environment
                before_send=intent.durable if intent is not None else None,
            )
        else:
            persona = self._persona
        ctx = ToolContext(persona=persona, idempotency_key=idempotency_key, data_dir=self._data_dir)
        ctx.progress = record.progress
        if self._files is not None:
            ctx.files = self._files.bound(FileOwner(caller.grant.id, caller.principal), spec.name)
        if self.events is not None:
            ctx.events = self.events.for_environment(caller.environment.value)
        if self._audit_reader is not None:
            ctx.audit = reader_for(self._audit_reader, caller.environment.value, caller.effective_scopes)
        try:
            return await spec.handler(ctx, args)
        finally:
            record.touched = list(dict.fromkeys(ctx.touched_ids))

    def _answer(self, caller: Caller, spec: AnySpec, result: Any) -> types.CallToolResult:
        data = result.model_dump(mode="json", by_alias=True)
        masked = False
        if Scope.PII_READ not in caller.effective_scopes:
            data, masked = mask(spec.output_model, data)
        text = to_json(data).decode()  # compact UTF-8 JSON, as json.dumps gave, several times faster
        content: list[types.ContentBlock] = [
            types.TextContent(type="text", text=text),
            *resource_links(result),
        ]
        if masked:
            content.append(
                types.TextContent(
                    type="text",
                    text="Personal data in this result is masked: the caller's grant lacks pii:read.",
                )
            )
        return types.CallToolResult(
            content=content,
            structured_content=data,
            meta={"persona-mcp/pii-masked": masked},
        )

    async def record_access(
        self,
        caller: Caller,
        session: SessionInfo,
        *,
        kind: str,
        tool: str,
        scope: Scope | None,
        object_ids: Sequence[str],
        details: Mapping[str, Any],
        started: float,
        **outcome: str | None,
    ) -> None:
        """The record of a request that is not a tool call (a resources/read): same fields, same rule,
        no answer unless it is durable. `outcome` holds decision, reason, outcome and error_kind."""
        record = _CallRecord(call_id=uuid.uuid4().hex, started=started)
        event = self._event(record, kind, caller, None, {}, session, tool_name=tool)
        event |= {
            "scope": scope.value if scope is not None else None,
            "arguments": None,
            "object_ids": list(object_ids),
            "details": dict(details),
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            **outcome,
        }
        await self._append(event)

    # -- audit -------------------------------------------------------------------------------------------

    def _event(
        self,
        record: _CallRecord,
        kind: str,
        caller: Caller | None,
        spec: AnySpec | None,
        raw_args: Mapping[str, Any],
        session: SessionInfo,
        *,
        validated: bool = True,
        tool_name: str | None = None,
    ) -> dict[str, Any]:
        model = spec.input_model if spec is not None else None
        # Ids are not personal data: every record names the objects its call was aimed at, in clear.
        object_ids = named_object_ids(model, raw_args, validated=validated)[:MAX_NAMED_OBJECT_IDS]
        return {
            "kind": kind,
            "call_id": record.call_id,
            "principal": caller.principal if caller else None,
            "grant_id": caller.grant.id if caller else None,
            "client_id": caller.client_id if caller else None,
            "subject": caller.subject if caller else None,
            "actor": caller.actor if caller else None,
            "session_id": session.session_id,
            "client_name": session.client_name,
            "client_version": session.client_version,
            "tool": spec.name if spec else tool_name,
            "scope": spec.scope.value if spec else None,
            "arguments": self._redacted(model, raw_args, validated, object_ids),
            "object_ids": object_ids,
            "details": {"approval_id": record.approval_id} if record.approval_id else None,
        }

    def _redacted(
        self, model: Any, raw_args: Mapping[str, Any], validated: bool, object_ids: list[str]
    ) -> dict[str, Any]:
        """Arguments for the record: every string digested unless the model declares it safe (or, not
        validated, unless it is a Persona id); oversized ones (which no valid call sends) reduced to
        their size and a keyed digest, so a client cannot bloat the append-only log."""
        try:
            size = len(json.dumps(raw_args, default=str))
        except (TypeError, ValueError):
            size = MAX_RECORDED_ARGUMENT_BYTES + 1
        digester = self._audit.digester
        if size > MAX_RECORDED_ARGUMENT_BYTES:
            return {"oversized_bytes": size, "digest": digester.digest(json.dumps(raw_args, default=str))}
        return digester.redact_arguments(model, raw_args, validated=validated, object_ids=object_ids)

    async def _deny(
        self,
        record: _CallRecord,
        caller: Caller | None,
        spec: AnySpec | None,
        name: str,
        raw_args: Mapping[str, Any],
        session: SessionInfo,
        reason: str,
    ) -> None:
        event = self._event(record, "call.denied", caller, spec, raw_args, session, validated=False)
        if spec is None:
            event["tool"] = bounded(name)
        event |= {"decision": "denied", "reason": reason}
        await self._append(event)

    async def _outcome(
        self,
        record: _CallRecord,
        caller: Caller,
        spec: AnySpec,
        raw_args: Mapping[str, Any],
        session: SessionInfo,
        idempotency_key: str | None,
        outcome: str,
        *,
        error_kind: str | None = None,
        error_type: str | None = None,
    ) -> None:
        last = record.exchanges[-1] if record.exchanges else None
        after_write = spec.is_write and bool(record.exchanges)
        event = self._event(record, "call.outcome", caller, spec, raw_args, session)
        event |= {
            "decision": "allowed",
            "outcome": outcome,
            "error_kind": error_kind,
            "error_type": error_type,
            "idempotency_key": idempotency_key,
            "object_ids": list(dict.fromkeys([*event["object_ids"], *record.touched])),
            "latency_ms": round((time.perf_counter() - record.started) * 1000, 3),
        }
        if last is not None:
            event |= {
                "upstream_method": last.method,
                "upstream_path": last.path,
                "upstream_status": last.status,
                "persona_request_id": last.request_id,
                "attempts": last.attempts,
            }
        if not record.exchanges:
            await self._append(event, after_write_key=idempotency_key if after_write else None)
            return
        # The call reached Persona: it must end in a record, in the spool if the store fails now.
        started = time.perf_counter()
        try:
            committed = await self._audit.append_or_spool(_audit_event(event))
        except AuditUnavailableError:
            self._observe(event, started, failed=True)
            log.error("audit append and spool failed; refusing call", kind="call.outcome")
            if after_write:
                raise errors.outcome_unrecorded(idempotency_key or "") from None
            raise errors.audit_unavailable() from None
        self._observe(event, started, failed=False)
        if not committed:
            raise errors.outcome_spooled(outcome, idempotency_key if spec.is_write else None)

    def _start_intent(self, event: dict[str, Any]) -> _Intent:
        """Submit the intent record now; the call gets its credential, rate permit and request ready
        while it commits, and waits for it only right before the request goes out (issue 18: the
        intent's commit is off the critical path as far as the work before the request allows)."""
        started = time.perf_counter()
        try:
            pending = self._audit.submit(_audit_event(event))
        except AuditUnavailableError as exc:
            pending = asyncio.get_running_loop().create_future()
            pending.set_exception(exc)
        return _Intent(pending, lambda failed: self._observe(event, started, failed=failed))

    async def _append(self, event: dict[str, Any], *, after_write_key: str | None = None) -> None:
        """Append durably, or refuse the call. `after_write_key` is set when a write already reached
        Persona: the refusal must then say the change may have happened, so nobody repeats it."""
        started = time.perf_counter()
        try:
            await self._audit.append(_audit_event(event))
        except AuditUnavailableError as exc:
            self._observe(event, started, failed=True)
            raise _refusal(exc, event.get("kind"), after_write_key) from None
        self._observe(event, started, failed=False)

    def _observe(self, event: Mapping[str, Any], started: float, *, failed: bool) -> None:
        """Metrics, span attributes and the per-call log line (server/observe.py)."""
        if self._observer is not None:
            self._observer.recorded(event, append_seconds=time.perf_counter() - started, failed=failed)


def _audit_event(event: Mapping[str, Any]) -> AuditEvent:
    return AuditEvent(**{k: v for k, v in event.items() if v is not None})


def _refusal(exc: AuditUnavailableError, kind: Any, after_write_key: str | None = None) -> errors.Refusal:
    """What the agent is told when its call's record cannot be written. `after_write_key` is set when a
    write already reached Persona: the refusal must then say the change may have happened."""
    log.error("audit append failed; refusing call", kind=kind)
    if after_write_key is not None:
        return errors.outcome_unrecorded(after_write_key)
    return errors.audit_unavailable(stalled=isinstance(exc, AuditStalledError))


class _IntentUnrecorded(Exception):
    """The intent record could not be made durable; carries the refusal the agent gets."""

    def __init__(self, refusal: errors.Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class _Intent:
    """A call's intent record while it commits: `durable()` waits until it is (once; later calls return
    at once), or raises `_IntentUnrecorded`, so the request is never sent."""

    def __init__(self, pending: asyncio.Future[Any], observe: Callable[[bool], None]) -> None:
        self._pending = pending
        self._observe = observe
        # A call cancelled before it waited leaves nobody to see a failure: it is not worth a warning.
        pending.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._failure: _IntentUnrecorded | None = None
        self._done = False

    async def durable(self) -> None:
        if not self._done:
            try:
                await asyncio.shield(self._pending)
            except AuditUnavailableError as exc:
                self._failure = _IntentUnrecorded(_refusal(exc, "call.intent"))
                self._observe(True)
            else:
                self._observe(False)
            self._done = True
        if self._failure is not None:
            raise self._failure


def _outcome_unknown(spec: AnySpec, error: PersonaError) -> bool:
    """A write any attempt of which may have been carried out upstream (a lost answer, a 5xx), whatever
    the last attempt got: a lost answer followed by a 429 is unknown, not an error."""
    return spec.is_write and error.maybe_applied


def _write_may_have_applied(spec: AnySpec, record: _CallRecord) -> bool:
    """Whether a write's upstream attempts so far may have changed something in Persona."""
    return spec.is_write and any(exchange.maybe_applied for exchange in record.exchanges)
