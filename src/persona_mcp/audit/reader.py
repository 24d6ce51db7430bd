"""The read side handed to the reviewer tools (`persona_mcp.tools.audit_log.AuditReader`).

The tools cannot import the audit package (tools sit below the server, beside audit), so they describe
what they need as a Protocol and the server passes this object in `ToolContext.audit`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from persona_mcp.audit.checkpoint import Checkpoint, read_checkpoint_file
from persona_mcp.audit.query import AuditFilter, query_records
from persona_mcp.audit.redaction import PiiDigester
from persona_mcp.audit.verify import VerifyStatus, verify_log
from persona_mcp.audit.writer import AuditLog
from persona_mcp.store import Store


class AuditLogReader:
    """Queries and verification over one store, with digests keyed like the writer's."""

    def __init__(
        self,
        store: Store,
        digester: PiiDigester,
        trusted_keys: Sequence[Ed25519PublicKey],
        checkpoint_files: Iterable[Path] = (),
        environments: frozenset[str] | None = None,
    ) -> None:
        self._store = store
        self._digester = digester
        self._trusted = list(trusted_keys)
        self._checkpoint_files = list(checkpoint_files)
        self._environments = environments

    @classmethod
    def for_log(cls, log: AuditLog, checkpoint_files: Iterable[Path] = ()) -> AuditLogReader:
        """The reader of a running log: its store, its PII key, its signing key and its external file."""
        mirror = log.external_checkpoint_path
        files = [*checkpoint_files, *([mirror] if mirror is not None else [])]
        return cls(log.store, log.digester, [log.public_key], files)

    def scoped(self, environments: frozenset[str] | None) -> AuditLogReader:
        """This reader limited to calls made under grants of `environments` (None: every record).

        A scoped reader finds no record without a grant (admin records, unauthenticated calls): which
        environment they belong to cannot be told, and doubt resolves to not showing them.
        """
        return AuditLogReader(
            self._store, self._digester, self._trusted, self._checkpoint_files, environments=environments
        )

    async def find(
        self,
        *,
        principal: str | None = None,
        grant_id: str | None = None,
        tool: str | None = None,
        kind: str | None = None,
        decision: str | None = None,
        outcome: str | None = None,
        object_id: str | None = None,
        call_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        unresolved: bool = False,
        email: str | None = None,
        phone: str | None = None,
        value: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Matching records, newest first, as plain JSON data (arguments stay digested)."""
        digests = self._digester.lookup_digests(
            emails=[email] if email else [], phones=[phone] if phone else [], values=[value] if value else []
        )
        flt = AuditFilter(
            principal=principal,
            grant_id=grant_id,
            tool=tool,
            kind=kind,
            decision=decision,
            outcome=outcome,
            object_id=object_id,
            call_id=call_id,
            since=since,
            until=until,
            unresolved=unresolved,
            digests=digests,
            environments=self._environments,
        )
        records = await query_records(self._store, flt, limit=limit, newest_first=True)
        return [record.model_dump(mode="json") for record in records]

    async def verify(self) -> dict[str, Any]:
        """Verify the chain, its search columns and checkpoints; a summary with the first break, if any.

        The checkpoint files are those kept outside the database: only they can anchor the log.
        """
        external: list[Checkpoint] = []
        for path in self._checkpoint_files:
            if path.exists():
                external.extend(read_checkpoint_file(path))
        report = await verify_log(self._store, trusted_keys=self._trusted, external_checkpoints=external)
        first = report.first_break
        return {
            "ok": report.status is VerifyStatus.OK,
            "status": report.status.value,
            "records": report.records,
            "last_seq": report.last_seq,
            "anchored_through_seq": report.anchored_through,
            "checkpoints_checked": report.checkpoints_checked,
            "checkpoints_matched": report.checkpoints_matched,
            "first_break_kind": first.kind.value if first else None,
            "first_break_seq": first.seq if first else None,
            "first_break_detail": first.detail if first else None,
        }


__all__ = ["AuditLogReader"]
