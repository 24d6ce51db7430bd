"""Verification: recompute the chain from the stored bytes and hold it against signed checkpoints.

The walk streams the table in `seq` order (keyset pages, no row objects beyond tuples) and, for every
record, re-hashes the stored canonical body and checks that the body's own `seq` and `prev_hash` continue
the chain. Most of the work is one SHA-256 per record, which is what keeps a million records in seconds.

On the first anomaly the walk stops and `_classify` looks at the neighbourhood to name the break:

* `edited`     a record's bytes no longer match its hash, or a record was changed and its hash recomputed
               (its successor still commits to the original), or its search columns disagree with its body
               (checked for every record unless `check_columns=False`, see `columns`), or an index
               derived from the records disagrees with them (the object index; the open-calls set,
               which must list exactly the calls the log shows unresolved);
* `deleted`    a position is missing and no record anywhere continues the chain from its predecessor;
* `inserted`   a record that the chain links past (its successor commits to its predecessor);
* `reordered`  the record that continues the chain exists, but at another position;
* `truncated`  the chain ends before a signed checkpoint's position;
* `rewritten`  the chain is internally consistent but differs from a signed checkpoint (recomputed);
* `bad_signature` a checkpoint whose signature fails or whose key is not trusted.

A chain without a break is `ok` only when a checkpoint held outside the database (`external_checkpoints`:
the mirror file, a witness's export, a copy a reviewer kept) matches it: checkpoints in the database's own
table prove nothing against whoever can rewrite the table, since they can delete them too. Otherwise the
status is `unanchored`.

What verification cannot prove is spelled out in docs/audit.md: records appended after the newest
checkpoint an outsider holds can be dropped or replaced by whoever controls both database and key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, text

from persona_mcp.audit.checkpoint import Checkpoint
from persona_mcp.audit.columns import Disagreement, find_disagreement
from persona_mcp.audit.keys import key_id
from persona_mcp.audit.open_calls import find_difference
from persona_mcp.audit.pages import Row, chain_pages
from persona_mcp.audit.record import GENESIS_HASH, claimed_prev_hash, claimed_seq
from persona_mcp.store import Store
from persona_mcp.store.schema.audit import audit_checkpoints, audit_record_objects, audit_records
from persona_mcp.store.sqlalchemy_async import AsyncConnection
from persona_mcp.tasks import cancel_and_wait

DEFAULT_BATCH = 20_000

_PREV_KEY = b'"prev_hash":"'
_PREV_KEY_LEN = len(_PREV_KEY)
_SEQ_KEY = b'"seq":'
_SEQ_KEY_LEN = len(_SEQ_KEY)


class BreakKind(StrEnum):
    EDITED = "edited"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"
    REWRITTEN = "rewritten"
    BAD_SIGNATURE = "bad_signature"


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """One finding: what kind of break, the first sequence number it affects, and a plain explanation."""

    kind: BreakKind
    seq: int
    detail: str


class VerifyStatus(StrEnum):
    """The verdict: `ok` (intact and anchored outside the database), `unanchored` (intact, but nothing
    outside the database vouches for it), `broken` (at least one break)."""

    OK = "ok"
    UNANCHORED = "unanchored"
    BROKEN = "broken"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    records: int
    last_seq: int
    last_hash: str
    checkpoints_checked: int
    checkpoints_matched: int
    breaks: tuple[ChainBreak, ...]
    elapsed_s: float
    external_checkpoints: int = 0
    """Checkpoints given from outside the database (trusted or not)."""
    anchored_through: int = 0
    """The highest position a trusted checkpoint held outside the database confirmed; 0 if none."""
    columns_checked: bool = True
    """Whether every record's search columns were held against its body (False: `check_columns=False`)."""

    @property
    def ok(self) -> bool:
        """No break was found. Whether anything outside the database vouches for that is `status`."""
        return not self.breaks

    @property
    def status(self) -> VerifyStatus:
        if self.breaks:
            return VerifyStatus.BROKEN
        return VerifyStatus.OK if self.anchored_through > 0 else VerifyStatus.UNANCHORED

    @property
    def unanchored_records(self) -> int:
        """Records after the newest position an outside checkpoint confirms (all of them if none does)."""
        return max(self.last_seq - self.anchored_through, 0)

    @property
    def first_break(self) -> ChainBreak | None:
        return min(self.breaks, key=lambda b: b.seq) if self.breaks else None

    @property
    def records_per_second(self) -> float:
        return self.records / self.elapsed_s if self.elapsed_s > 0 else float("inf")


@dataclass(slots=True)
class _Walk:
    """Where the walk stands: the next expected seq and the last two verified hashes."""

    expected: int = 1
    last_hash: str = GENESIS_HASH
    before_last_hash: str | None = None
    records: int = 0
    matched: set[int] = field(default_factory=set)


Progress = Callable[[int, int], None]


async def verify_log(
    store: Store,
    *,
    trusted_keys: Iterable[Ed25519PublicKey],
    external_checkpoints: Iterable[Checkpoint] = (),
    batch_size: int = DEFAULT_BATCH,
    check_columns: bool = True,
    progress: Progress | None = None,
) -> VerifyReport:
    """Verify the whole chain, its search columns and every checkpoint (the table's and the external ones).

    `trusted_keys` are the public keys whose checkpoints count; a checkpoint under any other key is a
    `bad_signature` finding, since anyone can sign with a key of their own. `external_checkpoints` are
    those held outside the database; only they can anchor the log (see `VerifyStatus`).
    `check_columns=False` skips holding the search columns against the bodies: queries may then miss or
    misattribute a record whose columns were edited, and the report says the check was not made.
    """
    trusted = {key_id(k) for k in trusted_keys}
    if not trusted:
        raise ValueError("verification needs at least one trusted public key")
    started = time.perf_counter()
    breaks: list[ChainBreak] = []
    external = list(external_checkpoints)
    async with store.engine.connect() as conn:
        # Checkpoints are read before the end of the range: every one of them then lies within it.
        checkpoints = [*(await _stored_checkpoints(conn)), *external]
        end = int((await conn.execute(text("SELECT COALESCE(MAX(seq), 0) FROM audit_records"))).scalar_one())
        by_seq: dict[int, list[Checkpoint]] = {}
        for cp in checkpoints:
            problem = _signature_problem(cp, trusted)
            if problem is not None:
                breaks.append(ChainBreak(BreakKind.BAD_SIGNATURE, cp.seq, problem))
            else:
                by_seq.setdefault(cp.seq, []).append(cp)
        # The column check scans on its own connection while the walk hashes (see `columns`).
        beside = check_columns and _has_own_connections(store)
        columns = asyncio.ensure_future(find_disagreement(store, end)) if beside else None
        walk = _Walk()
        try:
            chain_break = await _walk_chain(store, conn, walk, end, by_seq, batch_size, progress)
            if columns is not None:
                disagreement = await columns
            else:
                disagreement = await find_disagreement(store, end, conn) if check_columns else None
        finally:
            if columns is not None and not columns.done():
                await cancel_and_wait(columns)
        if chain_break is not None:
            breaks.append(chain_break)
        else:
            breaks.extend(_beyond_end(walk, by_seq))
        if disagreement is not None and (chain_break is None or disagreement.seq < chain_break.seq):
            breaks.append(_column_break(disagreement))
        if check_columns and disagreement is None:
            index_break = await _check_object_index(conn, end, batch_size * 10)
            if index_break is not None and (chain_break is None or index_break.seq < chain_break.seq):
                breaks.append(index_break)
            open_break = await _check_open_calls(conn)
            if open_break is not None and (chain_break is None or open_break.seq < chain_break.seq):
                breaks.append(open_break)
    anchors = {cp.seq for cp in external if _signature_problem(cp, trusted) is None} & walk.matched
    return VerifyReport(
        records=walk.records,
        last_seq=walk.expected - 1,
        last_hash=walk.last_hash,
        checkpoints_checked=len(checkpoints),
        checkpoints_matched=len(walk.matched),
        breaks=tuple(sorted(breaks, key=lambda b: b.seq)),
        elapsed_s=time.perf_counter() - started,
        external_checkpoints=len(external),
        anchored_through=max(anchors, default=0),
        columns_checked=check_columns,
    )


def _has_own_connections(store: Store) -> bool:
    """Whether a second connection sees the same database (not so for SQLite in memory)."""
    path = store.engine.url.database
    return not store.is_sqlite or bool(path and path != ":memory:")


def _column_break(found: Disagreement) -> ChainBreak:
    return ChainBreak(
        BreakKind.EDITED,
        found.seq,
        f"the search column(s) {', '.join(found.columns)} of record {found.seq} disagree with its body: "
        "queries by them miss or misattribute the record",
    )


def _signature_problem(cp: Checkpoint, trusted: set[str]) -> str | None:
    if not cp.signature_valid():
        return f"checkpoint at seq {cp.seq} has an invalid signature"
    if cp.key_id not in trusted:
        return f"checkpoint at seq {cp.seq} is signed by an untrusted key {cp.key_id[:16]}…"
    return None


async def _stored_checkpoints(conn: AsyncConnection) -> list[Checkpoint]:
    rows = (await conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq))).all()
    return [Checkpoint.from_row(row) for row in rows]


async def _walk_chain(
    store: Store,
    conn: AsyncConnection,
    walk: _Walk,
    end: int,
    checkpoints: dict[int, list[Checkpoint]],
    batch_size: int,
    progress: Progress | None,
) -> ChainBreak | None:
    """Walk the table page by page (keyset on seq, read ahead), stopping at the first break."""
    async with contextlib.aclosing(chain_pages(store, conn, end, batch_size)) as pages:
        async for rows in pages:
            found = _walk_page(rows, walk, checkpoints)
            if found is not None:
                if isinstance(found, ChainBreak):
                    return found
                seq, prev_column, hash_column, body = found
                return await _classify(conn, walk, (seq, prev_column, hash_column, body.decode()))
            if progress is not None:
                progress(walk.records, end)
    return None


def _walk_page(
    rows: list[Row], walk: _Walk, checkpoints: dict[int, list[Checkpoint]]
) -> Row | ChainBreak | None:
    """Verify one page: the first anomalous row (to classify), a checkpoint mismatch, or None.

    One SHA-256 and a few byte comparisons per record, no parsing, no objects. Bodies are the stored
    UTF-8 bytes; the hashes are compared as hex text.
    """
    sha256 = hashlib.sha256
    first = expected = walk.expected
    last, before_last = walk.last_hash, walk.before_last_hash
    last_bytes = last.encode()
    for seq, prev_column, hash_column, body in rows:
        computed = sha256(body).hexdigest()
        # Inlined claimed_prev_hash / claimed_seq (see record.py): `seq` sorts after `prev_hash` and
        # nothing nested follows it, so the first `"seq":` after the top-level prev_hash is the record's;
        # `timestamp` always follows `seq`, so its digits end at a comma.
        at = body.rfind(_PREV_KEY)
        if (
            seq != expected
            or computed != hash_column
            or prev_column != last
            or at < 0
            or not body.startswith(last_bytes, at + _PREV_KEY_LEN)
            or not body.startswith(b"%d," % seq, body.find(_SEQ_KEY, at) + _SEQ_KEY_LEN)
        ):
            walk.records += expected - first
            walk.expected, walk.last_hash, walk.before_last_hash = expected, last, before_last
            return (seq, prev_column, hash_column, body)
        if seq in checkpoints:
            walk.expected, walk.last_hash, walk.before_last_hash = expected, last, before_last
            mismatch = _hold_against(checkpoints[seq], computed, walk)
            if mismatch is not None:
                walk.records += expected - first
                return mismatch
        before_last, last = last, computed
        last_bytes = computed.encode()
        expected += 1
    walk.records += expected - first
    walk.expected, walk.last_hash, walk.before_last_hash = expected, last, before_last
    return None


def _hold_against(cps: list[Checkpoint], computed: str, walk: _Walk) -> ChainBreak | None:
    for cp in cps:
        if cp.hash != computed:
            since = max(walk.matched) + 1 if walk.matched else 1
            return ChainBreak(
                BreakKind.REWRITTEN,
                since,
                f"record {cp.seq} differs from the checkpoint signed at {cp.timestamp}: the chain was "
                f"recomputed after seq {since - 1}, the last position a checkpoint confirms",
            )
        walk.matched.add(cp.seq)
    return None


def _beyond_end(walk: _Walk, checkpoints: dict[int, list[Checkpoint]]) -> list[ChainBreak]:
    last = walk.expected - 1
    beyond = [seq for seq in checkpoints if seq > last]
    if not beyond:
        return []
    furthest = max(beyond)
    return [
        ChainBreak(
            BreakKind.TRUNCATED,
            last + 1,
            f"the log ends at seq {last} but a signed checkpoint covers seq {furthest}: "
            f"{furthest - last} record(s) at the tail are missing",
        )
    ]


def _sha(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


async def _successor_by_prev(conn: AsyncConnection, prev_hash: str) -> Row | None:
    row = (
        await conn.execute(
            text("SELECT seq, prev_hash, hash, body FROM audit_records WHERE prev_hash = :p"),
            {"p": prev_hash},
        )
    ).first()
    return None if row is None else tuple(row)


async def _following(conn: AsyncConnection, seq: int) -> Row | None:
    row = (
        await conn.execute(
            text("SELECT seq, prev_hash, hash, body FROM audit_records WHERE seq > :s ORDER BY seq LIMIT 1"),
            {"s": seq},
        )
    ).first()
    return None if row is None else tuple(row)


async def _classify(conn: AsyncConnection, walk: _Walk, row: Row) -> ChainBreak:
    """Name the break at `row`, the first record that does not continue the verified chain."""
    seq, _prev_column, hash_column, body = row
    expected, last = walk.expected, walk.last_hash
    if _sha(body) != hash_column:
        return ChainBreak(
            BreakKind.EDITED, seq, f"record {seq} no longer matches its hash: its content was changed"
        )
    body_seq, body_prev = claimed_seq(body), claimed_prev_hash(body)
    if body_seq is None or body_prev is None:
        return ChainBreak(BreakKind.EDITED, seq, f"record {seq} is not a well-formed record body")
    if body_seq == expected and body_prev == last:
        return ChainBreak(BreakKind.EDITED, seq, f"the index columns of record {seq} disagree with its body")
    if body_seq < expected:
        if body_prev == walk.before_last_hash:
            return ChainBreak(
                BreakKind.INSERTED,
                expected - 1,
                f"record {expected - 1} is not part of the chain: the next record links past it",
            )
        return ChainBreak(
            BreakKind.REORDERED,
            seq,
            f"position {seq} holds record {body_seq}, which belongs earlier in the chain",
        )
    if body_seq > expected:
        successor = await _successor_by_prev(conn, last)
        if successor is not None and successor[0] != seq and claimed_prev_hash(successor[3]) == last:
            return ChainBreak(
                BreakKind.REORDERED,
                expected,
                f"record {expected} was moved to position {successor[0]}; "
                f"position {seq} holds record {body_seq}",
            )
        missing = f"{expected}" if body_seq - expected == 1 else f"{expected}..{body_seq - 1}"
        return ChainBreak(BreakKind.DELETED, expected, f"record(s) {missing} are missing from the chain")
    # The body claims the expected position but does not link to the verified predecessor.
    following = await _following(conn, seq)
    if following is not None and claimed_prev_hash(following[3]) == last:
        return ChainBreak(
            BreakKind.INSERTED, seq, f"record {seq} is not part of the chain: the next record links past it"
        )
    if body_prev != last and expected > 1:
        return ChainBreak(
            BreakKind.EDITED,
            expected - 1,
            f"record {expected - 1} was changed and its hash recomputed: "
            f"record {expected} commits to the original",
        )
    return ChainBreak(BreakKind.EDITED, seq, f"record {seq} does not link to its predecessor")


async def _check_object_index(conn: AsyncConnection, end: int, batch_size: int) -> ChainBreak | None:
    """The object index holds exactly the ids of each record's `object_ids` column (`audit query
    --object` searches the index). The column itself is held against the body by the column check, so
    index, column and body agree; the walk pages by seq and reads only the two small columns."""
    index = audit_record_objects.c
    records = audit_records.c
    after = 0
    while after < end:
        last = min(after + batch_size, end)
        named: dict[int, set[str]] = {}
        rows = await conn.execute(
            select(records.seq, records.object_ids).where(
                records.seq > after, records.seq <= last, records.object_ids.is_not(None)
            )
        )
        for seq, column in rows.all():
            named[seq] = set(column.split())
        indexed: dict[int, set[str]] = {}
        rows = await conn.execute(
            select(index.seq, index.object_id).where(index.seq > after, index.seq <= last)
        )
        for seq, object_id in rows.all():
            indexed.setdefault(seq, set()).add(object_id)
        for seq in sorted(named.keys() | indexed.keys()):
            if indexed.get(seq, set()) != named.get(seq, set()) and indexed.get(
                seq, set()
            ) != await _body_ids(
                conn, seq
            ):  # ids with spaces split differently in the column: the body decides
                return ChainBreak(
                    BreakKind.EDITED, seq, f"the object index of record {seq} disagrees with its body"
                )
        after = last
    return None


async def _check_open_calls(conn: AsyncConnection) -> ChainBreak | None:
    """The open-calls set (what `--unresolved` and the console list) is exactly what the log says is
    open: one statement, the log's own anti-join against the set (about as long as the old search)."""
    found = await find_difference(conn)
    if found is None:
        return None
    if found.listed:
        detail = (
            f"the open-calls set lists record {found.seq}, which the log does not show as an open call "
            "(settled, or no call's first record)"
        )
    else:
        detail = (
            f"the log shows the call of record {found.seq} as unresolved, but the open-calls set does not "
            "list it (searches for unresolved calls would hide it)"
        )
    return ChainBreak(BreakKind.EDITED, found.seq, detail)


async def _body_ids(conn: AsyncConnection, seq: int) -> set[str]:
    body = (await conn.execute(select(audit_records.c.body).where(audit_records.c.seq == seq))).scalar()
    return set(json.loads(body).get("object_ids") or []) if body is not None else set()


__all__ = ["DEFAULT_BATCH", "BreakKind", "ChainBreak", "VerifyReport", "VerifyStatus", "verify_log"]
