"""What an intact audit chain looks like after real traffic, checked record by record.

`verify_log` recomputes hashes and checkpoints; these helpers add the properties a reviewer relies on
when reading the log of a busy server: positions 1..N without gaps, exactly one successor per record
(no fork), and for every call exactly the records its effect promises, in the promised order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from persona_mcp.audit import GENESIS_HASH, AuditRecord
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.audit.verify import VerifyReport, verify_log
from persona_mcp.store import Store
from persona_mcp.tools import catalogue


async def all_records(store: Store) -> list[AuditRecord]:
    return [record async for record in iter_records(store, AuditFilter())]


def assert_linear(records: list[AuditRecord]) -> None:
    """seq runs 1..N, each record commits to the one before it, and no two share a predecessor."""
    assert [r.seq for r in records] == list(range(1, len(records) + 1)), "gap or duplicate in seq"
    previous = GENESIS_HASH
    for record in records:
        assert record.prev_hash == previous, f"record {record.seq} does not follow record {record.seq - 1}"
        previous = record.hash
    assert len({r.prev_hash for r in records}) == len(records), "two records share a predecessor (fork)"


def calls_by_id(records: Iterable[AuditRecord]) -> dict[str, list[AuditRecord]]:
    """Call records (intent, outcome, denied, outcome_unknown) grouped by call id, in chain order."""
    calls: dict[str, list[AuditRecord]] = defaultdict(list)
    for record in records:
        if record.kind.startswith("call.") and record.call_id:
            calls[record.call_id].append(record)
    return dict(calls)


def assert_calls_well_formed(records: list[AuditRecord]) -> dict[str, list[AuditRecord]]:
    """Every write: intent then outcome with one Idempotency-Key; every read: a single outcome."""
    calls = calls_by_id(records)
    for call_id, trail in calls.items():
        kinds = [r.kind for r in trail]
        tool = trail[0].tool
        assert tool is not None, call_id
        if catalogue.get(tool).is_write:
            assert kinds == ["call.intent", "call.outcome"], (tool, kinds)
            intent, outcome = trail
            assert intent.seq < outcome.seq
            assert intent.idempotency_key and intent.idempotency_key == outcome.idempotency_key
        else:
            assert kinds == ["call.outcome"], (tool, kinds)
    return calls


async def assert_verifies(store: Store, *trusted: Ed25519PublicKey) -> VerifyReport:
    report = await verify_log(store, trusted_keys=trusted)
    assert report.ok, report.breaks
    return report
