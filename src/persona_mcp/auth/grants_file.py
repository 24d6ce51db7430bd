"""Grants as code: a `grants.toml` declares grants; `plan` compares it with the store, `apply` reconciles.

The file names itself (`source`); every grant it creates is marked with that source and the entry's
name, and only grants so marked are ever changed or revoked by it, so hand-made grants and other files'
grants are left alone. A declared entry with no matching unrevoked grant is created; one whose principal
or environment changed is replaced (revoked, then created with a new token, because a token must never
change hands); other differences are updated in place; marked grants the file no longer declares are
revoked. Relative expiries (`30d`) are refused in the file: they would move on every apply. Applying
the same file twice gives an empty second plan.

    source = "ops-agents"

    [grants.support-bot]
    principal = "support-bot"
    environment = "sandbox"
    scopes = ["accounts:read", "inquiries:read"]
    expires = "2027-01-01"
    deny_tools = ["print_inquiry_pdf"]
    rate = "60/min"
    require_approval = ["update_account"]   # tighten: these need a person's approval too
    no_approval = ["decline_inquiry"]       # loosen (explicitly): no approval for this agent
    tool_limits = ["decline_inquiry=10/1h"] # at most 10 declines per hour
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import Grant, GrantDraft, IssuedGrant, PrincipalKind
from persona_mcp.auth.grant_input import GrantInputError, parse_expiry, parse_rate, parse_tool_limits
from persona_mcp.auth.grants import GrantError, GrantStore, UnauditedChangeError, UnknownToolError, describe
from persona_mcp.auth.scopes import DEFAULT_READ_ONLY, UnknownScopeError, parse_scopes

log = structlog.get_logger(__name__)


class GrantsFileError(ValueError):
    """The file cannot be read or does not follow the format; the message points at the problem."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    principal: str
    environment: Environment
    kind: PrincipalKind = PrincipalKind.AGENT
    scopes: list[str] = Field(default_factory=list)
    expires: str | None = None
    allow_tools: list[str] | None = None
    deny_tools: list[str] = Field(default_factory=list)
    read_only: bool = False
    rate: str | int | None = None
    label: str | None = None
    require_approval: list[str] = Field(default_factory=list)
    no_approval: list[str] = Field(default_factory=list)
    tool_limits: list[str] = Field(default_factory=list)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1, max_length=200)
    grants: dict[str, _Entry] = Field(default_factory=dict)

    @field_validator("grants")
    @classmethod
    def _names(cls, value: dict[str, _Entry]) -> dict[str, _Entry]:
        for name in value:
            if not name or len(name) > 200:
                raise ValueError("grant names must be 1 to 200 characters")
        return value


@dataclass(frozen=True, slots=True)
class DeclaredGrants:
    """A parsed file: its source name and one draft per declared name."""

    source: str
    drafts: dict[str, GrantDraft]


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    REVOKE = "revoke"


@dataclass(frozen=True, slots=True)
class PlannedChange:
    action: Action
    name: str
    grant_id: str | None
    draft: GrantDraft | None
    changes: dict[str, list[Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "name": self.name,
            "grant_id": self.grant_id,
            "changes": self.changes,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    source: str
    changes: tuple[PlannedChange, ...]

    @property
    def empty(self) -> bool:
        return not self.changes


@dataclass(frozen=True, slots=True)
class AppliedPlan:
    plan: Plan
    issued: dict[str, IssuedGrant]


def load(path: Path, *, now: datetime) -> DeclaredGrants:
    """Read and validate a grants file; unknown keys, scopes and values are errors."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GrantsFileError(f"{path}: {exc}") from None
    return parse(raw, now=now, origin=str(path))


def parse(raw: dict[str, Any], *, now: datetime, origin: str = "grants file") -> DeclaredGrants:
    try:
        document = _File.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise GrantsFileError(f"{origin}: {problems}") from None
    drafts: dict[str, GrantDraft] = {}
    for name, entry in document.grants.items():
        try:
            drafts[name] = _draft(entry, now=now)
        except GrantInputError as exc:
            raise GrantsFileError(f"{origin}: grants.{name}: {exc}") from None
        except UnknownScopeError as exc:
            raise UnknownScopeError(f"{origin}: grants.{name}: {exc}") from None
    return DeclaredGrants(source=document.source, drafts=drafts)


def _draft(entry: _Entry, *, now: datetime) -> GrantDraft:
    return GrantDraft(
        principal=entry.principal,
        environment=entry.environment,
        principal_kind=entry.kind,
        scopes=parse_scopes(entry.scopes) or DEFAULT_READ_ONLY,
        expires_at=parse_expiry(entry.expires, now=now, allow_relative=False) if entry.expires else None,
        allow_tools=frozenset(entry.allow_tools) if entry.allow_tools is not None else None,
        deny_tools=frozenset(entry.deny_tools),
        read_only=entry.read_only,
        rate_per_minute=parse_rate(entry.rate) if entry.rate is not None else None,
        label=entry.label,
        require_approval=frozenset(entry.require_approval),
        no_approval=frozenset(entry.no_approval),
        tool_limits=parse_tool_limits(entry.tool_limits),
    )


def check_tools(declared: DeclaredGrants, known_tools: Collection[str]) -> None:
    """Refuse the whole file if any entry names an unknown tool (before anything is changed)."""
    known = frozenset(known_tools)
    for name, draft in declared.drafts.items():
        for which, names in (
            ("allow_tools", draft.allow_tools or frozenset()),
            ("deny_tools", draft.deny_tools),
            ("require_approval", draft.require_approval),
            ("no_approval", draft.no_approval),
            ("tool_limits", frozenset(limit.tool for limit in draft.tool_limits)),
        ):
            unknown = sorted(names - known)
            if unknown:
                raise UnknownToolError(f"grants.{name}.{which}: unknown tool name(s): {', '.join(unknown)}")


async def plan(store: GrantStore, declared: DeclaredGrants) -> Plan:
    """The changes that would make the store match the file (nothing is written)."""
    current = {grant.managed_name or "": grant for grant in await store.managed_by(declared.source)}
    changes: list[PlannedChange] = []
    for name, draft in sorted(declared.drafts.items()):
        existing = current.get(name)
        if existing is None:
            changes.append(PlannedChange(Action.CREATE, name, None, draft, _as_new(draft)))
        elif existing.principal != draft.principal.strip() or existing.environment is not draft.environment:
            replaced = {
                "principal": [existing.principal, draft.principal.strip()],
                "environment": [existing.environment.value, draft.environment.value],
            }
            changes.append(PlannedChange(Action.REPLACE, name, existing.id, draft, replaced))
        else:
            difference = _difference(existing, draft)
            if difference:
                changes.append(PlannedChange(Action.UPDATE, name, existing.id, draft, difference))
    for name, grant in sorted(current.items()):
        if name not in declared.drafts:
            changes.append(PlannedChange(Action.REVOKE, name, grant.id, None))
    return Plan(source=declared.source, changes=tuple(changes))


async def apply(store: GrantStore, planned: Plan, *, actor: str) -> AppliedPlan:
    """Carry out a plan: every draft is checked first, then each change is made (recording its own event).

    A draft the store would refuse stops the whole plan before anything changes (`GrantsFileError`). The
    summary `grants.applied` lists exactly the changes that were made, after they were made; if one fails
    on the way (a concurrent change, the audit log refusing it), `grants.apply_failed` says which changes
    were made, which one failed and which were never tried, and the error is raised.
    """
    issued: dict[str, IssuedGrant] = {}
    if planned.empty:
        return AppliedPlan(planned, issued)
    await _check_drafts(store, planned)
    done: list[PlannedChange] = []
    for change in planned.changes:
        try:
            await _carry_out(store, change, planned.source, actor, issued)
        except Exception as exc:
            await _record_failure(store, planned, done, change, exc, actor)
            raise
        done.append(change)
    try:
        await store.record_event(
            "grants.applied",
            actor=actor,
            target=f"source:{planned.source}",
            details={"changes": [change.as_dict() for change in done]},
        )
    except UnauditedChangeError:
        # Every change above already has its own record; only this summary of them is missing.
        log.error("grants.applied summary not recorded", source=planned.source, changes=len(done))
    return AppliedPlan(planned, issued)


async def _check_drafts(store: GrantStore, planned: Plan) -> None:
    """Refuse the whole plan if the store would refuse any one of its drafts."""
    for change in planned.changes:
        if change.draft is None:
            continue
        previous = (
            await store.get(change.grant_id) if change.action is Action.UPDATE and change.grant_id else None
        )
        try:
            store.check(change.draft, previous=previous)
        except GrantError as exc:
            raise GrantsFileError(f"grants.{change.name}: {exc}; nothing was applied") from None


async def _carry_out(
    store: GrantStore, change: PlannedChange, source: str, actor: str, issued: dict[str, IssuedGrant]
) -> None:
    if change.action is Action.REVOKE or change.action is Action.REPLACE:
        assert change.grant_id is not None
        await store.revoke(change.grant_id, actor=actor)
    if change.action is Action.UPDATE:
        assert change.grant_id is not None and change.draft is not None
        await store.update(change.grant_id, change.draft, actor=actor)
    if change.action is Action.CREATE or change.action is Action.REPLACE:
        assert change.draft is not None
        issued[change.name] = await store.create(
            change.draft, actor=actor, managed_by=source, managed_name=change.name
        )


async def _record_failure(
    store: GrantStore,
    planned: Plan,
    done: list[PlannedChange],
    failed: PlannedChange,
    error: Exception,
    actor: str,
) -> None:
    """Best effort: the audit log may be what failed. The failed change's own events tell whether a
    replacement got as far as revoking the old grant."""
    untried = planned.changes[len(done) + 1 :]
    details = {
        "applied": [change.as_dict() for change in done],
        "failed": failed.as_dict() | {"error": type(error).__name__},
        "not_applied": [change.as_dict() for change in untried],
    }
    try:
        await store.record_event(
            "grants.apply_failed", actor=actor, target=f"source:{planned.source}", details=details
        )
    except UnauditedChangeError:
        log.error("grants.apply_failed not recorded", source=planned.source, applied=len(done))


def _as_new(draft: GrantDraft) -> dict[str, list[Any]]:
    view = _draft_view(draft)
    return {key: [None, value] for key, value in view.items() if value not in (None, [], False)}


def _difference(existing: Grant, draft: GrantDraft) -> dict[str, list[Any]]:
    old = describe(existing)
    new = _draft_view(draft)
    return {key: [old[key], value] for key, value in new.items() if old[key] != value}


def _draft_view(draft: GrantDraft) -> dict[str, Any]:
    """A draft in the JSON view of `grants.describe`, over the declarative fields only."""
    return {
        "principal_kind": draft.principal_kind.value,
        "scopes": sorted(scope.value for scope in (draft.scopes or DEFAULT_READ_ONLY)),
        "expires_at": draft.expires_at.isoformat() if draft.expires_at else None,
        "allow_tools": sorted(draft.allow_tools) if draft.allow_tools is not None else None,
        "deny_tools": sorted(draft.deny_tools),
        "read_only": draft.read_only,
        "rate_per_minute": draft.rate_per_minute,
        "label": draft.label,
        "require_approval": sorted(draft.require_approval),
        "no_approval": sorted(draft.no_approval),
        "tool_limits": [
            {"tool": limit.tool, "calls": limit.calls, "window_seconds": limit.window_seconds}
            for limit in sorted(draft.tool_limits)
        ],
    }
