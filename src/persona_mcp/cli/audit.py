"""`persona-mcp audit`: read, verify, export and checkpoint the audit log.

Every command opens the configured database (`PERSONA_MCP_DATABASE_URL` or the SQLite file in the data
directory) and applies pending migrations first, so it works on a fresh install too.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import Annotated, TypeVar

import anyio
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from persona_mcp.audit import AuditRecord, PiiDigester
from persona_mcp.audit.admin import open_admin_sink
from persona_mcp.audit.checkpoint import Checkpoint, append_external, checkpoint_anchor, read_checkpoint_file
from persona_mcp.audit.export import ExportFormat, render_lines_async
from persona_mcp.audit.keys import existing_public_key, key_id, load_public_pem, load_signing_key, public_pem
from persona_mcp.audit.keys import signing_key_path as _signing_key_path
from persona_mcp.audit.query import (
    AuditFilter,
    call_ids_starting_with,
    count_records,
    iter_records,
    query_records,
    tail,
)
from persona_mcp.audit.verify import VerifyReport, VerifyStatus, verify_log
from persona_mcp.cli.output import print_fields, print_rows
from persona_mcp.config import Settings, load_settings
from persona_mcp.operator_error import OperatorError
from persona_mcp.store import Store, create_store, upgrade

app = typer.Typer(help="Inspect, verify and export the tamper-evident audit log.", no_args_is_help=True)

_T = TypeVar("_T")
# soft_wrap: a long line (an id, a report) is never folded into the next one, piped or not.
_console = Console(soft_wrap=True)
_err = Console(stderr=True, soft_wrap=True)


def _run(work: Callable[[Store, Settings], Awaitable[_T]]) -> _T:
    settings = load_settings()

    async def main() -> _T:
        store = create_store(settings.resolved_database_url)
        try:
            await upgrade(store)
            return await work(store, settings)
        finally:
            await store.close()

    return anyio.run(main)


_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _parse_time(
    value: str | None, option: str = "--since", *, now: datetime | None = None
) -> datetime | None:
    """An ISO 8601 time (UTC unless it says otherwise) or a span back from now: `30m`, `12h`, `7d`, `2w`."""
    if value is None:
        return None
    relative = _RELATIVE.match(value)
    if relative:
        seconds = int(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise OperatorError(
            f"{option} {value[:40]!r} is neither an ISO time nor a relative span",
            f"pass e.g. {option} 2026-01-31, {option} 2026-01-31T08:00:00Z, {option} 12h or {option} 7d "
            "(units s, m, h, d, w)",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_DECISIONS = ("allowed", "denied")
_OUTCOMES = ("ok", "error", "unknown")


def _one_of(value: str | None, allowed: tuple[str, ...], option: str) -> str | None:
    if value is None or value in allowed:
        return value
    raise OperatorError(
        f"{option} {value[:40]!r} is not a recorded value", f"pass one of: {', '.join(allowed)}"
    )


_COLUMNS = ("seq", "time (UTC)", "kind", "principal", "tool", "decision", "outcome", "objects", "call")


def _row(r: AuditRecord) -> tuple[str, ...]:
    """One record's cells; the call id in full (a prefix is for typing, `audit show` takes any unique one)."""
    return (
        str(r.seq),
        r.timestamp[:23],
        r.kind,
        r.principal or r.actor or "",
        r.tool or r.target or "",
        r.decision or "",
        r.outcome or "",
        " ".join(r.object_ids),
        r.call_id or "",
    )


def _emit(records: list[AuditRecord], as_json: bool) -> None:
    if as_json:
        for record in records:
            typer.echo(record.model_dump_json())
    else:
        print_rows(_COLUMNS, [_row(record) for record in records])


@app.command("tail")
def tail_command(
    count: Annotated[int, typer.Option("-n", "--lines", min=1, help="How many records to show.")] = 20,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing new records.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON record per line.")] = False,
) -> None:
    """Show the newest records."""

    async def work(store: Store, _settings: Settings) -> None:
        records = await tail(store, count)
        _emit(records, as_json)
        last = records[-1].seq if records else 0
        while follow:
            await anyio.sleep(1.0)
            new = await tail(store, 10_000, after_seq=last)
            if new:
                _emit(new, as_json)
                last = new[-1].seq

    _run(work)


@app.command("query")
def query_command(
    principal: Annotated[str | None, typer.Option(help="Caller principal.")] = None,
    grant: Annotated[str | None, typer.Option(help="Grant id.")] = None,
    tool: Annotated[str | None, typer.Option(help="Tool name.")] = None,
    kind: Annotated[str | None, typer.Option(help="Record kind, e.g. call.denied.")] = None,
    decision: Annotated[str | None, typer.Option(help="allowed or denied.")] = None,
    outcome: Annotated[str | None, typer.Option(help="ok, error or unknown.")] = None,
    object_id: Annotated[str | None, typer.Option("--object", help="Persona object id touched.")] = None,
    call_id: Annotated[
        str | None, typer.Option("--call", help="Call id, or a unique prefix of one (intent and outcome).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="ISO time or span back from now (7d, 12h), inclusive.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="ISO time or span back from now, exclusive.")] = None,
    approval: Annotated[
        str | None,
        typer.Option("--approval", help="Approval id: its whole story, and the call that used it."),
    ] = None,
    unresolved: Annotated[
        bool, typer.Option(help="Calls whose effect in Persona is unknown (the intent of each).")
    ] = False,
    email: Annotated[list[str] | None, typer.Option(help="Records whose arguments held this e-mail.")] = None,
    phone: Annotated[list[str] | None, typer.Option(help="Records whose arguments held this phone.")] = None,
    value: Annotated[list[str] | None, typer.Option(help="Records whose arguments held this value.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many records.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON record per line.")] = False,
) -> None:
    """Find records; personal values are matched by their keyed digests, never stored in clear."""
    # Checked before the database opens: a typo is told at once, in one line.
    decision = _one_of(decision, _DECISIONS, "--decision")
    outcome = _one_of(outcome, _OUTCOMES, "--outcome")
    since_at, until_at = _parse_time(since, "--since"), _parse_time(until, "--until")

    async def work(store: Store, settings: Settings) -> None:
        digests: tuple[str, ...] = ()
        if email or phone or value:
            digester = PiiDigester.for_data_dir(settings.data_dir)
            digests = digester.lookup_digests(emails=email or [], phones=phone or [], values=value or [])
        flt = AuditFilter(
            principal=principal,
            grant_id=grant,
            tool=tool,
            kind=kind,
            decision=decision,
            outcome=outcome,
            object_id=object_id,
            call_id=call_id,
            approval_id=approval,
            since=since_at,
            until=until_at,
            unresolved=unresolved,
            digests=digests,
        )
        if call_id is not None:
            flt = replace(flt, call_id=await _full_call_id(store, call_id))
        found = await query_records(store, flt, limit=limit)
        total = await count_records(store, flt)
        _emit(found, as_json)
        if not as_json:  # JSON lines stay JSON lines; a person reads how much the limit left out
            more = f"; --limit {total} shows them all" if total > len(found) else ""
            typer.echo(f"showing {len(found)} of {total} matching record(s){more}")

    _run(work)


async def _full_call_id(store: Store, given: str) -> str:
    """The call id `given` names: itself, or the one call id it is a unique prefix of."""
    matches = await call_ids_starting_with(store, given, limit=6)
    if given in matches:
        return given
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise OperatorError(
            f"no recorded call id starts with {given[:40]!r}",
            "check the id (`audit query` shows them in full)",
        )
    shown = ", ".join(matches[:5])
    raise OperatorError(
        f"call id prefix {given[:40]!r} is ambiguous: it starts {shown}{', ...' if len(matches) > 5 else ''}",
        "give more characters of the call id",
    )


@app.command("show")
def show_command(
    which: Annotated[str, typer.Argument(help="A record's seq, or a call id (or a unique prefix of one).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON record per line.")] = False,
) -> None:
    """Show one record in full (by seq), or every record of one call (by call id or prefix)."""

    async def work(store: Store, _settings: Settings) -> list[AuditRecord]:
        if which.isdigit():
            found = await query_records(store, AuditFilter(seq=int(which)), limit=1)
            if not found:
                raise OperatorError(
                    f"there is no record with seq {which}", "`audit tail` shows the newest seqs"
                )
            return found
        call = await _full_call_id(store, which)
        return await query_records(store, AuditFilter(call_id=call), limit=None)

    records = _run(work)
    if as_json:
        _emit(records, as_json=True)
        return
    for index, record in enumerate(records):
        if index:
            typer.echo("")
        fields = record.model_dump(mode="json", exclude_none=True)
        print_fields(
            [(key, value if isinstance(value, str) else json.dumps(value)) for key, value in fields.items()],
            title=f"seq {record.seq}",
        )


def _trusted_keys(settings: Settings, pubkeys: list[Path]) -> list[Ed25519PublicKey]:
    """`--pubkey` files when given (and then only those: a key file in the data directory may have been
    replaced along with the log); otherwise the public half of the server's own signing key."""
    if pubkeys:
        return [load_public_pem(path.read_bytes()) for path in pubkeys]
    local = existing_public_key(_signing_key_path(settings.data_dir))
    return [] if local is None else [local]


class VerifyExit(IntEnum):
    """Exit status of `audit verify` (documented in docs/audit.md)."""

    OK = 0
    BROKEN = 1
    CANNOT_VERIFY = 2
    UNANCHORED = 3


_EXIT = {VerifyStatus.OK: VerifyExit.OK, VerifyStatus.BROKEN: VerifyExit.BROKEN}


@app.command("verify")
def verify_command(
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            exists=True,
            dir_okay=False,
            help="Checkpoints held outside the database (a copy you kept, a witness's export), JSON lines.",
        ),
    ] = None,
    pubkey: Annotated[
        list[Path] | None,
        typer.Option(
            "--pubkey",
            exists=True,
            dir_okay=False,
            help="Trust only checkpoints signed by this public key (PEM, from `audit pubkey`); repeatable.",
        ),
    ] = None,
    fast: Annotated[
        bool,
        typer.Option(help="Skip checking the search columns against each record (the output says so)."),
    ] = False,
    deep: Annotated[bool, typer.Option(hidden=True, help="Old scripts: the default now.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute the chain, check every record's search columns and every signed checkpoint.

    Exit 0 when intact and anchored by a checkpoint kept outside the database, 1 on any break, 2 when
    unable to verify, 3 when intact but unanchored.
    """
    if fast and deep:
        _err.print("--fast and --deep contradict each other: pass one")
        raise typer.Exit(VerifyExit.CANNOT_VERIFY)

    def work_factory(progress: Progress | None) -> Callable[[Store, Settings], Awaitable[VerifyReport]]:
        async def work(store: Store, settings: Settings) -> VerifyReport:
            trusted = _trusted_keys(settings, pubkey or [])
            if not trusted:
                _err.print("no trusted public key: pass --pubkey or run where the signing key lives")
                raise typer.Exit(VerifyExit.CANNOT_VERIFY)
            external: list[Checkpoint] = []
            mirror = checkpoint_anchor(settings.audit_checkpoint_location, settings.data_dir).file
            for path in [*(checkpoint or []), *([mirror] if mirror.exists() else [])]:
                external.extend(read_checkpoint_file(path))
            task = progress.add_task("verifying", total=None) if progress is not None else None

            def advance(done: int, total: int) -> None:
                if progress is not None and task is not None:
                    progress.update(task, completed=done, total=total)

            return await verify_log(
                store,
                trusted_keys=trusted,
                external_checkpoints=external,
                check_columns=not fast,
                progress=advance,
            )

        return work

    if as_json or not sys.stderr.isatty():
        report = _run(work_factory(None))
    else:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=_err, transient=True) as progress:
            report = _run(work_factory(progress))
    _print_report(report, as_json)
    raise typer.Exit(_EXIT.get(report.status, VerifyExit.UNANCHORED))


_NOT_CHECKED = (
    "the search columns (principal, tool, decision, object_ids, recorded_at, ...) were not checked against "
    "the records (--fast): a query may miss or misattribute a record whose columns were edited"
)


def _print_report(report: VerifyReport, as_json: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "status": report.status.value,
                    "ok": report.status is VerifyStatus.OK,
                    "records": report.records,
                    "last_seq": report.last_seq,
                    "last_hash": report.last_hash,
                    "columns_checked": report.columns_checked,
                    "not_checked": [] if report.columns_checked else [_NOT_CHECKED],
                    "checkpoints_checked": report.checkpoints_checked,
                    "checkpoints_matched": report.checkpoints_matched,
                    "external_checkpoints": report.external_checkpoints,
                    "anchored_through_seq": report.anchored_through,
                    "unanchored_records": report.unanchored_records,
                    "breaks": [
                        {"kind": b.kind.value, "seq": b.seq, "detail": b.detail} for b in report.breaks
                    ],
                    "elapsed_s": round(report.elapsed_s, 3),
                }
            )
        )
        return
    columns = "search columns checked" if report.columns_checked else "search columns NOT checked"
    if report.status is VerifyStatus.BROKEN:
        first = report.first_break
        assert first is not None
        _console.print(f"[red]BROKEN[/red] first bad seq {first.seq}: {first.kind.value}: {first.detail}")
        for found in report.breaks:
            if found is not first:
                _console.print(f"  also: seq {found.seq}: {found.kind.value}: {found.detail}")
    elif report.status is VerifyStatus.UNANCHORED:
        _console.print(
            f"[yellow]UNANCHORED[/yellow] {report.records} records intact up to seq {report.last_seq} "
            f"({columns}), but no checkpoint kept outside the database confirms any of them "
            f"({report.external_checkpoints} given): whoever can write the database could have rewritten "
            "the whole log. Keep checkpoints outside it (docs/audit.md, Signed checkpoints) and pass them "
            "with --checkpoint."
        )
    else:
        tail = report.unanchored_records
        _console.print(
            f"[green]OK[/green] {report.records} records verified up to seq {report.last_seq} ({columns}); "
            f"anchored through seq {report.anchored_through} by checkpoints kept outside the database; "
            f"{report.checkpoints_matched} signed checkpoint position(s) matched "
            f"({report.checkpoints_checked} checkpoint(s) checked) in {report.elapsed_s:.2f}s"
        )
        if tail:
            _console.print(
                f"  {tail} record(s) after seq {report.anchored_through} rest on the chain and the "
                "database's own checkpoints only, until the next checkpoint is kept outside"
            )
    if not report.columns_checked:
        _console.print(f"[yellow]NOT CHECKED[/yellow] {_NOT_CHECKED}")


def _tool_activities() -> dict[str, str]:
    """Each tool's declared activity, for the OCSF export (the audit package cannot import the tools)."""
    from persona_mcp.tools.activities import tool_activities

    return tool_activities()


@app.command("export")
def export_command(
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl, csv or ocsf.")] = ExportFormat.JSONL,
    since: Annotated[
        str | None, typer.Option(help="ISO time or span back from now (7d, 12h), inclusive.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="ISO time or span back from now, exclusive.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default stdout).")
    ] = None,
) -> None:
    """Export records (arguments stay digested); a progress bar on a terminal, the count at the end."""
    flt = AuditFilter(since=_parse_time(since, "--since"), until=_parse_time(until, "--until"))
    # A bar only where someone watches it: stderr is a terminal and the records do not go to it.
    show_progress = sys.stderr.isatty() and (output is not None or not sys.stdout.isatty())

    async def work(store: Store, _settings: Settings) -> int:
        exported = 0
        total = await count_records(store, flt) if show_progress else None
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        progress = Progress(*columns, console=_err, transient=True, disable=not show_progress)
        task = progress.add_task("exporting", total=total)

        async def counted() -> AsyncIterator[AuditRecord]:
            nonlocal exported
            async for record in iter_records(store, flt):
                exported += 1
                if exported % 500 == 0:
                    progress.update(task, completed=exported)
                yield record

        stream = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
        try:
            with progress:
                async for line in render_lines_async(counted(), fmt, activities=_tool_activities()):
                    stream.write(line)
                progress.update(task, completed=exported)  # the bar ends on the count, not the last 500
        finally:
            if output:
                stream.close()
        return exported

    exported = _run(work)
    if output or sys.stderr.isatty():  # never mixed into an export piped from stdout and stderr together
        where = f" to {output}" if output else ""
        _err.print(f"exported {exported} record(s){where}", highlight=False)


@app.command("checkpoint")
def checkpoint_command(
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Accepted for scripts: the signed checkpoint is printed as JSON anyway."),
    ] = False,
) -> None:
    """Sign a checkpoint at the current head now (also kept outside the database, see docs/audit.md)."""

    async def work(store: Store, settings: Settings) -> Checkpoint | None:
        anchor = checkpoint_anchor(settings.audit_checkpoint_location, settings.data_dir)
        async with open_admin_sink(store, settings) as log:
            signed = await log.checkpoint()
        # Nothing new since the newest checkpoint: that one is the answer, and it belongs in the file too.
        if signed is not None and not (anchor.file.exists() and signed in read_checkpoint_file(anchor.file)):
            append_external(anchor.file, [signed])
        return signed

    cp = _run(work)
    if cp is None:
        _err.print("the audit log is empty: nothing to checkpoint")
        raise typer.Exit(1)
    typer.echo(cp.model_dump_json())


@app.command("pubkey")
def pubkey_command(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the PEM to this file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="PEM and fingerprint as one JSON object.")] = False,
) -> None:
    """Print the checkpoint-signing public key (PEM) and its fingerprint, for outside verifiers."""
    settings = load_settings()
    public = load_signing_key(_signing_key_path(settings.data_dir)).public_key()
    pem = public_pem(public)
    if output:
        output.write_text(pem)
    if as_json:
        typer.echo(json.dumps({"public_key_pem": pem, "fingerprint": f"sha256:{key_id(public)}"}))
        return
    typer.echo(pem, nl=False)
    typer.echo(f"fingerprint: sha256:{key_id(public)}")


@app.command("forward")
def forward_command(
    once: Annotated[
        bool, typer.Option("--once", help="Deliver every record recorded so far, then exit.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON (with --once).")] = False,
) -> None:
    """Forward audit records to the SIEM sink (PERSONA_MCP_SIEM_*) as OCSF JSON, from a durable cursor.

    Runs until interrupted (the server does the same in the background when a sink is configured); a
    restart resumes after the last record the sink accepted.
    """
    from persona_mcp.audit.forwarding import Forwarder, open_sink

    settings = load_settings()
    sink = open_sink(settings.siem)  # a ConfigError when no sink or URL is set

    async def work(store: Store, _settings: Settings) -> dict[str, int]:
        forwarder = Forwarder(
            store,
            sink,
            name=settings.siem.name,
            batch_size=settings.siem.batch_size,
            poll_seconds=settings.siem.poll_seconds,
            retry_max_seconds=settings.siem.retry_max_seconds,
            activities=_tool_activities(),
        )
        if once:
            try:
                delivered = await forwarder.drain()
            finally:
                await sink.aclose()
            return {"delivered": delivered, "cursor": forwarder.state.cursor}
        await forwarder.run()
        return {"delivered": forwarder.state.delivered, "cursor": forwarder.state.cursor}

    try:
        result = _run(work)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    if as_json:
        typer.echo(json.dumps(result))
    else:
        delivered, cursor = result["delivered"], result["cursor"]
        typer.echo(f"delivered {delivered} record(s) to the {sink.name} sink; cursor at seq {cursor}")
