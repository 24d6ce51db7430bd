"""`persona-mcp approvals`: list, show, approve and reject calls held for a person's sign-off.

The person deciding is named with `--as PRINCIPAL` (a live person grant with `approvals:decide`; the
arguments are shown in clear only if that grant also holds `pii:read`), or acts as an administrator
with `--admin` (recorded as `admin:<user>`). Either way never the principal whose call is held. A reason
is required for every decision; each decision is an audit record before it takes effect.
`reset-breaker` ends a grant's tripped destructive-call circuit breaker (administrators only).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, NoReturn, TypeVar

import anyio
import typer
from rich.console import Console
from rich.table import Table

from persona_mcp.logs import configure_logging

app = typer.Typer(
    help="Approvals: calls held until a person other than the caller approves them.", no_args_is_help=True
)

_T = TypeVar("_T")
_stdout = Console()
_stderr = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="The approver: a principal with a person grant holding approvals:decide."),
]
AdminOption = Annotated[
    bool, typer.Option("--admin", help="Decide as an administrator (recorded as admin:<user>).")
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (required; recorded in the audit log).")]


@app.callback()
def _logs_to_stderr() -> None:
    configure_logging("WARNING")


def _fail(message: str, code: int) -> NoReturn:
    _stderr.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


@asynccontextmanager
async def _review() -> AsyncIterator[Any]:
    from persona_mcp.audit import open_admin_sink
    from persona_mcp.auth.approvals import ApprovalStore
    from persona_mcp.auth.call_limits import CallCounters
    from persona_mcp.auth.credentials.secretbox import load_secret_box
    from persona_mcp.auth.grants import GrantStore
    from persona_mcp.config import load_settings
    from persona_mcp.server.approval_review import ApprovalReview
    from persona_mcp.store import create_store, upgrade
    from persona_mcp.tools import CATALOGUE

    settings = load_settings()
    store = create_store(settings.resolved_database_url)
    try:
        await upgrade(store)
        async with open_admin_sink(store, settings) as audit:
            yield ApprovalReview(
                approvals=ApprovalStore(store),
                grants=GrantStore(store, audit, known_tools=[spec.name for spec in CATALOGUE]),
                audit=audit,
                box=load_secret_box(settings.secret_key, settings.data_dir),
                tools=CATALOGUE,
                counters=CallCounters(store),
            )
    finally:
        await store.close()


def _run(work: Callable[[], Awaitable[_T]]) -> _T:
    from persona_mcp.server.approval_review import ReviewError

    try:
        return anyio.run(work)
    except ReviewError as exc:
        _fail(str(exc), 1)


def _admin_name() -> str:
    from persona_mcp.cli.grants import _actor

    return _actor().removeprefix("cli:")


async def _approver(review: Any, approver: str | None, admin: bool) -> Any:
    from persona_mcp.server.approval_review import ReviewError

    if (approver is None) == (not admin):
        raise ReviewError("name the approver with --as PRINCIPAL, or decide as an administrator with --admin")
    return await review.approver(approver or _admin_name(), admin=admin)


@app.command("list")
def list_command(
    all_states: Annotated[
        bool, typer.Option("--all", help="Every approval, not only pending and approved.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List approvals (pending and approved, unless --all). Arguments are never listed."""

    async def work() -> list[Any]:
        async with _review() as review:
            states = None if all_states else ("pending", "approved")
            found: list[Any] = await review.listing(states=states)
            return found

    approvals = _run(work)
    if as_json:
        rows = [
            {
                "id": a.id,
                "state": a.state,
                "tool": a.tool,
                "principal": a.principal,
                "environment": a.environment,
                "requested_at": a.requested_at.isoformat(),
                "expires_at": a.expires_at.isoformat(),
                "decided_by": a.decided_by,
            }
            for a in approvals
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title="Approvals")
    for column in ("id", "state", "tool", "principal", "env", "requested", "expires", "decided by"):
        table.add_column(column, overflow="fold")
    for a in approvals:
        table.add_row(
            a.id,
            a.state,
            a.tool,
            a.principal,
            a.environment,
            a.requested_at.isoformat(timespec="minutes"),
            a.expires_at.isoformat(timespec="minutes"),
            a.decided_by or "",
        )
    _stdout.print(table)


@app.command("show")
def show_command(
    approval_id: Annotated[str, typer.Argument(help="The approval id (apr_...).")],
    approver: AsOption = None,
    admin: AdminOption = False,
    as_json: JsonOption = False,
) -> None:
    """Show one approval with its arguments (in clear only for an approver holding pii:read)."""

    async def work() -> dict[str, Any]:
        async with _review() as review:
            who = await _approver(review, approver, admin)
            view = await review.show(approval_id, who)
            shown: dict[str, Any] = view.as_json()
            return shown

    shown = _run(work)
    if as_json:
        sys.stdout.write(json.dumps(shown, indent=2) + "\n")
        return
    for key, value in shown.items():
        if value is not None:
            text = json.dumps(value) if isinstance(value, dict | list) else str(value)
            _stdout.print(f"[bold]{key}[/]: {text}", highlight=False)


def _decide(approval_id: str, approver: str | None, admin: bool, reason: str, *, approve: bool) -> None:
    async def work() -> Any:
        async with _review() as review:
            who = await _approver(review, approver, admin)
            return await review.decide(approval_id, who, approve=approve, reason=reason)

    decided = _run(work)
    verb = "approved" if approve else "rejected"
    _stdout.print(f"{decided.id} {verb} by {decided.decided_by}: {decided.tool} for {decided.principal}")
    if approve:
        _stdout.print(
            f"The agent's next {decided.tool} call with the same arguments runs once, "
            f"until {decided.expires_at.isoformat(timespec='minutes')}."
        )


@app.command("approve")
def approve_command(
    approval_id: Annotated[str, typer.Argument(help="The approval id (apr_...).")],
    reason: ReasonOption,
    approver: AsOption = None,
    admin: AdminOption = False,
) -> None:
    """Approve a held call: the same call with the same arguments then runs once."""
    _decide(approval_id, approver, admin, reason, approve=True)


@app.command("reject")
def reject_command(
    approval_id: Annotated[str, typer.Argument(help="The approval id (apr_...).")],
    reason: ReasonOption,
    approver: AsOption = None,
    admin: AdminOption = False,
) -> None:
    """Reject a held call; the agent is told, with the reason."""
    _decide(approval_id, approver, admin, reason, approve=False)


@app.command("reset-breaker")
def reset_breaker_command(
    grant_id: Annotated[str, typer.Argument(help="The grant whose circuit breaker tripped.")],
    reason: ReasonOption,
) -> None:
    """End a grant's tripped destructive-call circuit breaker (an administrator's decision)."""

    async def work() -> bool:
        async with _review() as review:
            done: bool = await review.reset_breaker(grant_id, actor=f"admin:{_admin_name()}", reason=reason)
            return done

    if not _run(work):
        _fail(f"grant {grant_id} has no tripped circuit breaker", 1)
    _stdout.print(f"circuit breaker of {grant_id} reset")
