"""`persona-mcp grants`: create, list, show, revoke, rotate grants, and apply a `grants.toml`.

Tokens are printed once (at create, rotate, and for grants an apply creates) and never stored in clear.
Every change goes to the audit log first; if the audit log cannot be opened, the change is refused.
Unknown scope or tool names exit with status 2, like any other usage error.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import anyio
import typer
from rich.console import Console

from persona_mcp.auth import grants_file
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.events import AdminEventSink
from persona_mcp.auth.grant import Grant, GrantDraft, IssuedGrant, PrincipalKind
from persona_mcp.auth.grant_input import (
    GrantInputError,
    parse_expiry,
    parse_names,
    parse_rate,
    parse_tool_limits,
)
from persona_mcp.auth.grants import (
    GrantError,
    GrantNotFoundError,
    GrantStateError,
    GrantStore,
    UnauditedChangeError,
    UnknownToolError,
    describe,
    utcnow,
)
from persona_mcp.auth.scopes import DEFAULT_READ_ONLY, UnknownScopeError, parse_scopes
from persona_mcp.cli.output import print_fields, print_rows
from persona_mcp.config import Settings, load_settings
from persona_mcp.logs import configure_logging
from persona_mcp.store import Store, create_store, upgrade

app = typer.Typer(
    help="Grants: which tools a principal may call, in which Persona environment, until when.",
    no_args_is_help=True,
)


@app.callback()
def _logs_to_stderr() -> None:
    """Operational logs go to stderr as JSON, so stdout carries only tables, tokens or `--json`."""
    configure_logging("WARNING")


_T = TypeVar("_T")
# soft_wrap: a token or a scope list is never folded into the next line, piped or not.
_stdout = Console(soft_wrap=True)
_stderr = Console(stderr=True, soft_wrap=True)

DEFAULT_EXPIRY = "90d"
_USAGE_ERRORS = (
    UnknownScopeError,
    UnknownToolError,
    GrantInputError,
    grants_file.GrantsFileError,
    GrantError,
)


class AuditUnavailableError(RuntimeError):
    """The audit log cannot be opened, so no grant change may be made."""


@asynccontextmanager
async def _event_sink(store: Store, settings: Settings) -> AsyncIterator[AdminEventSink]:
    """The audit log as the admin-event sink; refusing (never discarding) when it is unavailable."""
    try:
        from persona_mcp.audit import open_admin_sink
    except ImportError as exc:
        raise AuditUnavailableError(
            "the audit log is not available in this installation; grant changes are refused"
        ) from exc
    async with AsyncExitStack() as stack:
        try:
            sink = await stack.enter_async_context(open_admin_sink(store, settings))
        except Exception as exc:
            raise AuditUnavailableError(
                f"the audit log could not be opened ({type(exc).__name__}); grant changes are refused"
            ) from exc
        yield sink


class _ReadOnlySink:
    """For commands that only read: any attempt to change a grant through it is refused."""

    async def admin_event(
        self, *, action: str, actor: str, target: str, details: Mapping[str, Any] | None = None
    ) -> None:
        raise AuditUnavailableError(f"{action} attempted by a read-only command")


def _known_tools() -> frozenset[str]:
    """Tool names of the catalogue (imported here, never in `auth`, which must not depend on tools)."""
    from persona_mcp.tools import CATALOGUE

    return frozenset(spec.name for spec in CATALOGUE)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no passwd entry (some containers)
        return f"cli:uid-{os.getuid()}"


@asynccontextmanager
async def _grant_store(*, changes: bool) -> AsyncIterator[GrantStore]:
    settings = load_settings()
    store = create_store(settings.resolved_database_url)
    try:
        await upgrade(store)
        if changes:
            async with _event_sink(store, settings) as sink:
                yield GrantStore(store, events=sink, known_tools=_known_tools())
        else:
            yield GrantStore(store, events=_ReadOnlySink(), known_tools=_known_tools())
    finally:
        await store.close()


def _run(work: Callable[[], Awaitable[_T]]) -> _T:
    try:
        return anyio.run(work)
    except _USAGE_ERRORS as exc:
        if isinstance(exc, GrantNotFoundError | GrantStateError):
            _fail(str(exc), 1)
        _fail(str(exc), 2)
    except (AuditUnavailableError, UnauditedChangeError) as exc:
        _fail(str(exc), 1)


def _fail(message: str, code: int) -> NoReturn:
    _stderr.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def _show_token(issued: IssuedGrant) -> None:
    _stdout.print(f"\n[bold]Token for {issued.grant.id}[/] (shown once; store it now):")
    _stdout.print(issued.token, markup=False, highlight=False, soft_wrap=True)


def _print_grants(grants: list[Grant]) -> None:
    """A table on a terminal; whole ids and scope lists on one line each when piped."""
    now = utcnow()
    rows = [
        (
            grant.id,
            grant.principal,
            grant.environment.value,
            " ".join(sorted(s.value for s in grant.scopes)),
            _constraints(grant),
            grant.expires_at.isoformat(timespec="minutes") if grant.expires_at else "never",
            grant.state(now).value,
            grant.label or "",
        )
        for grant in grants
    ]
    print_rows(
        ("id", "principal", "env", "scopes", "constraints", "expires", "state", "label"), rows, title="Grants"
    )


def _constraints(grant: Grant) -> str:
    parts = []
    if grant.read_only:
        parts.append("read-only")
    if grant.allow_tools is not None:
        parts.append(f"allow {len(grant.allow_tools)}")
    if grant.deny_tools:
        parts.append(f"deny {len(grant.deny_tools)}")
    if grant.rate_per_minute:
        parts.append(f"{grant.rate_per_minute}/min")
    if grant.require_approval:
        parts.append(f"approval +{len(grant.require_approval)}")
    if grant.no_approval:
        parts.append(f"no approval {len(grant.no_approval)}")
    if grant.tool_limits:
        parts.append(f"tool limits {len(grant.tool_limits)}")
    if grant.managed_by:
        parts.append(f"file {grant.managed_by}")
    return ", ".join(parts)


JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


@app.command("create")
def create_command(
    principal: Annotated[str, typer.Option("--principal", help="Agent or person the grant is for.")],
    env: Annotated[Environment, typer.Option("--env", help="Persona environment.")],
    scopes: Annotated[
        str | None, typer.Option("--scopes", help="Comma-separated scopes; default: every read scope.")
    ] = None,
    expires: Annotated[
        str, typer.Option("--expires", help="30d, 12h, an ISO date/datetime, or 'never'.")
    ] = DEFAULT_EXPIRY,
    allow_tool: Annotated[
        list[str] | None, typer.Option("--allow-tool", help="Only these tools (repeat or comma-separate).")
    ] = None,
    deny_tool: Annotated[list[str] | None, typer.Option("--deny-tool", help="Never these tools.")] = None,
    rate: Annotated[str | None, typer.Option("--rate", help="Calls per minute, e.g. 60/min.")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Refuse every non-read tool.")] = False,
    label: Annotated[str | None, typer.Option("--label", help="Free text shown in listings.")] = None,
    kind: Annotated[PrincipalKind, typer.Option("--kind", help="agent or person.")] = PrincipalKind.AGENT,
    require_approval: Annotated[
        list[str] | None,
        typer.Option("--require-approval", help="Tools whose calls need a person's approval too."),
    ] = None,
    no_approval: Annotated[
        list[str] | None,
        typer.Option("--no-approval", help="Tools whose declared approval this grant waives (audited)."),
    ] = None,
    tool_limit: Annotated[
        list[str] | None,
        typer.Option("--tool-limit", help="Calls per tool per window, e.g. decline_inquiry=10/1h."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a grant and print its token once."""

    async def work() -> IssuedGrant:
        draft = GrantDraft(
            principal=principal,
            environment=env,
            principal_kind=kind,
            scopes=parse_scopes((scopes or "").split(",")) or None,
            expires_at=parse_expiry(expires, now=utcnow()),
            allow_tools=parse_names(allow_tool) if allow_tool is not None else None,
            deny_tools=parse_names(deny_tool or []),
            read_only=read_only,
            rate_per_minute=parse_rate(rate) if rate is not None else None,
            label=label,
            require_approval=parse_names(require_approval or []),
            no_approval=parse_names(no_approval or []),
            tool_limits=parse_tool_limits(tool_limit or []),
        )
        async with _grant_store(changes=True) as grants:
            return await grants.create(draft, actor=_actor())

    issued = _run(work)
    if as_json:
        _print_json({"grant": describe(issued.grant), "token": issued.token})
        return
    _print_grants([issued.grant])
    _show_token(issued)


@app.command("list")
def list_command(
    all_grants: Annotated[bool, typer.Option("--all", help="Include revoked grants.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List grants (live and expired; revoked too with --all)."""

    async def work() -> list[Grant]:
        async with _grant_store(changes=False) as grants:
            return await grants.list_all(include_revoked=all_grants)

    found = _run(work)
    if as_json:
        _print_json([describe(grant) for grant in found])
    else:
        _print_grants(found)


@app.command("show")
def show_command(
    grant_id: Annotated[str, typer.Argument(help="Grant id.")],
    tools: Annotated[
        bool, typer.Option("--tools", help="Also list the tools the grant opens now (scope and effect).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show one grant in full; with --tools, what it opens."""

    async def work() -> Grant:
        async with _grant_store(changes=False) as grants:
            return await grants.require(grant_id)

    grant = _run(work)
    view = describe(grant) | {"state": grant.state(utcnow()).value}
    opened = _tool_rows(grant) if tools else []
    if as_json:
        if tools:
            view["tools"] = [
                {"name": name, "scope": scope, "effect": effect} for name, scope, effect in opened
            ]
        _print_json(view)
        return
    print_fields(((key, _shown(value)) for key, value in view.items()), title=f"Grant {grant.id}")
    if tools:
        if not opened:
            _stdout.print(f"\nthe grant opens no tool ({view['state']})", markup=False, highlight=False)
            return
        typer.echo("")
        print_rows(("tool", "scope", "effect"), opened, title=f"Tools {grant.id} opens")


def _tool_rows(grant: Grant) -> list[tuple[str, str, str]]:
    from persona_mcp.auth.policy import visible
    from persona_mcp.tools import CATALOGUE

    return [
        (spec.name, spec.scope.value, spec.effect.value) for spec in visible(grant, CATALOGUE, now=utcnow())
    ]


@app.command("revoke")
def revoke_command(
    grant_id: Annotated[str, typer.Argument(help="Grant id.")], as_json: JsonOption = False
) -> None:
    """Revoke a grant: its token stops working within two seconds."""

    async def work() -> Grant:
        async with _grant_store(changes=True) as grants:
            return await grants.revoke(grant_id, actor=_actor())

    grant = _run(work)
    if as_json:
        _print_json(describe(grant))
    else:
        _stdout.print(f"revoked {grant.id} ({grant.principal})")


@app.command("rotate")
def rotate_command(
    grant_id: Annotated[str, typer.Argument(help="Grant id.")], as_json: JsonOption = False
) -> None:
    """Issue a new token for a grant; the old token stops working at once."""

    async def work() -> IssuedGrant:
        async with _grant_store(changes=True) as grants:
            return await grants.rotate(grant_id, actor=_actor())

    issued = _run(work)
    if as_json:
        _print_json({"grant": describe(issued.grant), "token": issued.token})
    else:
        _show_token(issued)


@app.command("apply")
def apply_command(
    path: Annotated[Path, typer.Argument(help="grants.toml to reconcile the store with.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan only.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Reconcile the store with a grants file: create, update, and revoke what it no longer declares."""

    async def work() -> grants_file.AppliedPlan:
        declared = grants_file.load(path, now=utcnow())
        grants_file.check_tools(declared, _known_tools())
        async with _grant_store(changes=not dry_run) as grants:
            planned = await grants_file.plan(grants, declared)
            if not as_json:
                _print_plan(planned)
            if dry_run:
                return grants_file.AppliedPlan(planned, {})
            return await grants_file.apply(grants, planned, actor=_actor())

    applied = _run(work)
    if as_json:
        _print_json(
            {
                "source": applied.plan.source,
                "dry_run": dry_run,
                "plan": [change.as_dict() for change in applied.plan.changes],
                "tokens": {name: issued.token for name, issued in applied.issued.items()},
                "grants": {name: issued.grant.id for name, issued in applied.issued.items()},
            }
        )
        return
    if dry_run or applied.plan.empty:
        return
    _stdout.print(f"applied {len(applied.plan.changes)} change(s)")
    for name, issued in applied.issued.items():
        _stdout.print(f"\n[bold]{name}[/]:")
        _show_token(issued)


def _shown(value: Any) -> str:
    """A plan value as an operator writes it: lists as comma-separated names, nothing as `-`."""
    if value is None or value == []:
        return "-"
    if isinstance(value, list | tuple | frozenset | set):
        return ", ".join(str(item) for item in value)
    return str(value)


def _planned_grant(draft: GrantDraft) -> Grant:
    """The grant a draft would make, to work out which tools it opens (never stored)."""
    now = utcnow()
    return Grant(
        id="(planned)",
        principal=draft.principal,
        principal_kind=draft.principal_kind,
        environment=draft.environment,
        scopes=draft.scopes or DEFAULT_READ_ONLY,
        expires_at=None,
        created_at=now,
        updated_at=now,
        allow_tools=draft.allow_tools,
        deny_tools=draft.deny_tools,
        read_only=draft.read_only,
        rate_per_minute=draft.rate_per_minute,
        label=draft.label,
    )


def _effective_tools(grant: Grant) -> list[str]:
    """The tools the grant opens now, in catalogue order (what its caller's tools/list shows)."""
    from persona_mcp.auth.policy import visible
    from persona_mcp.tools import CATALOGUE

    return [spec.name for spec in visible(grant, CATALOGUE, now=utcnow())]


def _print_plan(planned: grants_file.Plan) -> None:
    if planned.empty:
        print_rows_or_line(f"grants from {planned.source!r}: nothing to change")
        return
    rows = []
    for change in planned.changes:
        draft = change.draft
        details = "; ".join(
            f"{key}: {_shown(old)} -> {_shown(new)}" for key, (old, new) in change.changes.items()
        )
        tools = ", ".join(_effective_tools(_planned_grant(draft))) if draft is not None else "-"
        rows.append(
            (
                change.action.value,
                change.name,
                change.grant_id or "(new)",
                draft.environment.value if draft is not None else "-",
                draft.principal if draft is not None else "-",
                details,
                tools,
            )
        )
    print_rows(
        ("action", "name", "grant", "environment", "principal", "changes", "effective tools"),
        rows,
        title=f"Plan for grants from {planned.source!r}",
    )


def print_rows_or_line(line: str) -> None:
    _stdout.print(line, markup=False, highlight=False)
