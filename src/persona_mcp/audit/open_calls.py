"""The open-calls set: the calls whose effect in Persona is unknown, kept in step with the log.

A call is unresolved until a `call.outcome` says `ok` or `error`: an intent with no outcome yet, a
`call.outcome` with `outcome: unknown` (the answer was lost, or the call was cancelled) and a
`call.outcome_unknown` from crash recovery all leave it open. Each open call is listed once, by its first
record: a write by its intent (which carries the Idempotency-Key and the arguments to check by), a call
with no intent (none is written for reads) by the first outcome that says unknown.

Finding them in the log is an anti-join of every intent against the outcomes (`in_log`): correct, but
over a million records it costs a second or more. So the batch committer keeps `audit_open_calls` in the
same transaction as the records it writes (`Maintenance`): a row when an intent or an unknown outcome
opens a call, the call's rows deleted when an `ok`/`error` outcome settles it. Each statement asks the log
itself, already holding the batch's records, whether the call is settled or was listed before, so the set
is exactly `in_log`'s answer whatever the order and grouping of the records; a search for unresolved
calls is then a range of the set's primary key.

The log stays the authority: the set is derived from it, can be rebuilt from it (`rebuild_statement`, what
migration 0011 does), and `audit verify` holds it against `in_log` (`find_difference`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import CompoundSelect, literal_column, select, union_all

from persona_mcp.audit.chain import RECORD_COLUMNS
from persona_mcp.store.schema.audit import audit_open_calls, audit_records
from persona_mcp.store.sqlalchemy_async import AsyncConnection

#: The records one tool call leaves (a denial is a call too, but one that never reached Persona).
CALL_KINDS = ("call.intent", "call.outcome", "call.outcome_unknown")
#: Outcomes that settle what a call did in Persona; `unknown` settles nothing.
DEFINITE = ("ok", "error")
#: Records whose `outcome: unknown` opens a call that no earlier record opened.
_UNKNOWN_KINDS = ("call.outcome", "call.outcome_unknown")


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


_SETTLED = (
    "EXISTS (SELECT seq FROM audit_records WHERE call_id = {m} AND kind = 'call.outcome' "
    f"AND outcome IN ({_quoted(DEFINITE)}))"
)
_EARLIER = (
    f"EXISTS (SELECT seq FROM audit_records WHERE call_id = {{m}} AND kind IN ({_quoted(CALL_KINDS)}) "
    "AND seq < {m})"
)
_ROW = "SELECT CAST({m} AS BIGINT), CAST({m} AS VARCHAR(64))"


def open_intent_sql(marker: str) -> str:
    """Parameters (seq, call_id, call_id): an intent opens its call unless an outcome already settled it."""
    m = marker
    return f"INSERT INTO audit_open_calls (seq, call_id) {_ROW.format(m=m)} WHERE NOT {_SETTLED.format(m=m)}"


def open_unknown_sql(marker: str) -> str:
    """Parameters (seq, call_id, call_id, call_id, seq): an outcome that says unknown opens its call
    unless the call is settled or an earlier record of it (its intent, an earlier unknown) lists it."""
    m = marker
    return (
        f"INSERT INTO audit_open_calls (seq, call_id) {_ROW.format(m=m)} "
        f"WHERE NOT {_SETTLED.format(m=m)} AND NOT {_EARLIER.format(m=m)}"
    )


def settle_sql(marker: str) -> str:
    """Parameter (call_id): an `ok` or `error` outcome closes its call."""
    return f"DELETE FROM audit_open_calls WHERE call_id = {marker}"


_KIND = RECORD_COLUMNS.index("kind")
_CALL_ID = RECORD_COLUMNS.index("call_id")
_OUTCOME = RECORD_COLUMNS.index("outcome")
_SEQ = RECORD_COLUMNS.index("seq")


@dataclass(slots=True)
class Maintenance:
    """The parameter rows of the three statements for one batch, in record order."""

    intents: list[tuple[Any, ...]] = field(default_factory=list)
    unknowns: list[tuple[Any, ...]] = field(default_factory=list)
    settled: list[tuple[Any, ...]] = field(default_factory=list)

    @classmethod
    def of(cls, rows: Sequence[Sequence[Any]]) -> Maintenance:
        """From the batch's record rows (`RECORD_COLUMNS` order). Run after the rows are inserted: the
        statements read the batch's own records (an intent settled in the same batch is never listed)."""
        work = cls()
        for row in rows:
            kind, call_id, outcome, seq = row[_KIND], row[_CALL_ID], row[_OUTCOME], row[_SEQ]
            if kind == "call.intent":
                work.intents.append((seq, call_id, call_id))
            elif kind in _UNKNOWN_KINDS and outcome == "unknown":
                work.unknowns.append((seq, call_id, call_id, call_id, seq))
            elif kind == "call.outcome" and outcome in DEFINITE and call_id is not None:
                work.settled.append((call_id,))
        return work


@dataclass(frozen=True, slots=True)
class OpenCallsSql:
    """The three statements in one driver's parameter style (`?` for sqlite3, `%s` for psycopg)."""

    open_intent: str
    open_unknown: str
    settle: str

    @classmethod
    def with_marker(cls, marker: str) -> OpenCallsSql:
        return cls(open_intent_sql(marker), open_unknown_sql(marker), settle_sql(marker))

    def for_batch(self, rows: Sequence[Sequence[Any]]) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """Each statement a batch needs, with its parameter rows, for `executemany` in this order after
        the batch's records are inserted (see `Maintenance.of`)."""
        work = Maintenance.of(rows)
        steps = (
            (self.open_intent, work.intents),
            (self.open_unknown, work.unknowns),
            (self.settle, work.settled),
        )
        return [(sql, params) for sql, params in steps if params]


def in_log() -> CompoundSelect[Any]:
    """The positions of the records that list the open calls, found in the log itself (the specification
    the set is held against). Two index ranges: intents by (kind, call_id, seq), unknown outcomes by
    (outcome, seq), each checked through the covering (call_id, kind, outcome, seq) index."""
    intents = audit_records.alias("open_intent")
    others = audit_records.alias("open_other")
    earlier = audit_records.alias("earlier")
    listed_intents = select(intents.c.seq).where(
        intents.c.kind == "call.intent", ~_settled(intents.c.call_id)
    )
    listed_others = select(others.c.seq).where(
        others.c.outcome == literal_column("'unknown'"),
        others.c.kind.in_(_UNKNOWN_KINDS),
        ~_settled(others.c.call_id),
        ~select(earlier.c.seq)
        .where(
            earlier.c.call_id == others.c.call_id,
            earlier.c.kind.in_(CALL_KINDS),
            earlier.c.seq < others.c.seq,
        )
        .exists(),
    )
    return union_all(listed_intents, listed_others)


def _settled(call_id: Any) -> Any:
    definite = audit_records.alias("definite")
    return (
        select(definite.c.seq)
        .where(
            definite.c.call_id == call_id,
            definite.c.kind == "call.outcome",
            definite.c.outcome.in_(DEFINITE),
        )
        .exists()
    )


def rebuild_statement() -> Any:
    """INSERT the set from the log (into an empty table): what migration 0011 does for an existing log."""
    found = in_log().subquery("found")
    listed = select(found.c.seq, audit_records.c.call_id).join_from(
        found, audit_records, audit_records.c.seq == found.c.seq
    )
    return audit_open_calls.insert().from_select(["seq", "call_id"], listed)


@dataclass(frozen=True, slots=True)
class OpenCallsDifference:
    """The first position where the set and the log disagree, and which way."""

    seq: int
    listed: bool
    """True: the set lists a record the log does not (a settled call, or none); False: the log says the
    call is open but the set does not list it."""


async def find_difference(conn: AsyncConnection) -> OpenCallsDifference | None:
    """Hold the set against the log. One statement (one snapshot, whatever writers do meanwhile) returns
    both sides, the log's answer computed once; they are compared here (a few hundred rows each)."""
    expected = in_log().subquery("expected")
    both = union_all(
        select(expected.c.seq, literal_column("0").label("listed")),
        select(audit_open_calls.c.seq, literal_column("1").label("listed")),
    )
    found: dict[int, set[bool]] = {}
    for seq, listed in (await conn.execute(both)).all():
        found.setdefault(int(seq), set()).add(bool(int(listed)))
    differing = sorted(seq for seq, sides in found.items() if len(sides) == 1)
    if not differing:
        return None
    first = differing[0]
    return OpenCallsDifference(first, True in found[first])


__all__ = [
    "CALL_KINDS",
    "DEFINITE",
    "Maintenance",
    "OpenCallsDifference",
    "find_difference",
    "in_log",
    "open_intent_sql",
    "open_unknown_sql",
    "rebuild_statement",
    "settle_sql",
]
