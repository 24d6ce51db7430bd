"""`persona-mcp audit`: read, verify, export and checkpoint the audit log.

Every command opens the configured database (`PERSONA_MCP_DATABASE_URL` or the SQLite file in the data
directory) and applies pending migrations first, so it works on a fresh install too.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Annotated, TypeVar

import anyio
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from persona_mcp.audit import AuditRecord, PiiDigester
from persona_mcp.audit.admin import open_admin_sink
from persona_mcp.audit.checkpoint import Checkpoint, append_external, checkpoint_anchor, read_checkpoint_file
from persona_mcp.audit.export import ExportFormat, render_lines_async
from persona_mcp.audit.keys import existing_public_key, key_id, load_public_pem, load_signing_key, public_pem
from persona_mcp.audit.keys import signing_key_path as _signing_key_path
from persona_mcp.audit.query import AuditFilter, iter_records, query_records, tail
from persona_mcp.audit.verify import VerifyReport, VerifyStatus, verify_log
from persona_mcp.config import Settings, load_settings
from persona_mcp.store import Store, create_store, upgrade

app = typer.Typer(help="Inspect, verify and export the tamper-evident audit log.", no_args_is_help=True)

_T = TypeVar("_T")
_console = Console()
_err = Console(stderr=True)


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


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


#: C0 and C1 control characters and DEL: a terminal would act on them (colours, titles, hyperlinks).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _cell(value: str) -> Text:
    """A table cell that shows a caller-chosen value as it is: never read as Rich markup, controls visible.

    Tool names, principals and ids come from callers; a plain string cell would be parsed as markup, so a
    tool name like `[link=http://evil]x[/link]` would become a terminal hyperlink.
    """
    return Text(_CONTROL.sub(lambda found: found.group().encode("unicode_escape").decode(), value))


def _table(records: list[AuditRecord]) -> Table:
    table = Table(show_lines=False)
    for column in (
        "seq",
        "time (UTC)",
        "kind",
        "principal",
        "tool",
        "decision",
        "outcome",
        "objects",
        "call",
    ):
        table.add_column(column, overflow="fold")
    for r in records:
        cells = (
            str(r.seq),
            r.timestamp[:23],
            r.kind,
            r.principal or r.actor or "",
            r.tool or r.target or "",
            r.decision or "",
            r.outcome or "",
            " ".join(r.object_ids),
            (r.call_id or "")[:12],
        )
        table.add_row(*(_cell(cell) for cell in cells))
    return table


def _emit(records: list[AuditRecord], as_json: bool) -> None:
    if as_json:
        for record in records:
            typer.echo(record.model_dump_json())
    else:
        # Piped output keeps whole ids on one line instead of folding them to the default 80 columns.
        console = _console if sys.stdout.isatty() else Console(width=200)
        console.print(_table(records))


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
    call_id: Annotated[str | None, typer.Option("--call", help="Call id (intent and outcome).")] = None,
    approval: Annotated[
        str | None,
        typer.Option("--approval", help="Approval id: its whole story, and the call that used it."),
    ] = None,
    since: Annotated[str | None, typer.Option(help="ISO time, inclusive.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time, exclusive.")] = None,
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
            since=_parse_time(since),
            until=_parse_time(until),
            unresolved=unresolved,
            digests=digests,
        )
        _emit(await query_records(store, flt, limit=limit), as_json)

    _run(work)


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
    from persona_mcp.tools import CATALOGUE
    from persona_mcp.tools.saved_files import READ_RESOURCE
    from persona_mcp.tools.spec import Activity

    return {spec.name: spec.api_activity.value for spec in CATALOGUE} | {READ_RESOURCE: Activity.READ.value}


@app.command("export")
def export_command(
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl, csv or ocsf.")] = ExportFormat.JSONL,
    since: Annotated[str | None, typer.Option(help="ISO time, inclusive.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time, exclusive.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default stdout).")
    ] = None,
) -> None:
    """Export records (arguments stay digested)."""

    async def work(store: Store, _settings: Settings) -> None:
        flt = AuditFilter(since=_parse_time(since), until=_parse_time(until))
        stream = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
        try:
            async for line in render_lines_async(
                iter_records(store, flt), fmt, activities=_tool_activities()
            ):
                stream.write(line)
        finally:
            if output:
                stream.close()

    _run(work)
    if output:
        _err.print(f"wrote {output}")


@app.command("checkpoint")
def checkpoint_command() -> None:
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
) -> None:
    """Print the checkpoint-signing public key (PEM) and its fingerprint, for outside verifiers."""
    settings = load_settings()
    public = load_signing_key(_signing_key_path(settings.data_dir)).public_key()
    pem = public_pem(public)
    if output:
        output.write_text(pem)
    typer.echo(pem, nl=False)
    typer.echo(f"fingerprint: sha256:{key_id(public)}")
