"""The credential table, with every secret sealed by the `SecretBox` and every change audited.

Admin changes (add, remove, key rotation) are reported to the `AdminEventSink` *before* they are
written: if the audit log cannot record the change, the change is refused. Automatic state changes
(a credential disabled because Persona rejected it) are written first and reported afterwards, since
refusing to disable a dead credential would help nobody.

Token rotation goes through `locked()`: on PostgreSQL the row is read `FOR UPDATE`, so replicas
refreshing the same credential queue behind one another and each re-reads what the previous one
stored; every write is a compare-and-swap on `version`, which also protects SQLite (one process)
against a stale writer.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import SecretStr
from sqlalchemy import Row, delete, insert, select, update

from persona_mcp.auth.credentials.errors import CredentialNotFoundError
from persona_mcp.auth.credentials.models import (
    ClientAuthMethod,
    CredentialInfo,
    CredentialKind,
    CredentialStatus,
    StoredCredential,
)
from persona_mcp.auth.credentials.secretbox import SecretBox, associated_data
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.events import AdminEventSink
from persona_mcp.store import Store
from persona_mcp.store.schema.credentials import credentials as _table
from persona_mcp.store.sqlalchemy_async import AsyncConnection

_log = structlog.get_logger(__name__)

_SECRET_FIELDS = ("secret", "access_token", "refresh_token")
#: How often a key rotation retries a row that a concurrent token refresh changed under it.
_ROTATION_ATTEMPTS = 5


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def stored_key_ids(store: Store) -> frozenset[str]:
    """The ids of the keys stored credentials are encrypted under (empty when none are stored)."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(_table.c.key_id).distinct())
        return frozenset(row.key_id for row in rows)


class CredentialStore:
    """CRUD for upstream credentials; secrets go in sealed and come out as `SecretStr`."""

    def __init__(
        self,
        store: Store,
        box: SecretBox,
        *,
        events: AdminEventSink,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self._box = box
        self._events = events
        self._clock = clock

    @property
    def box(self) -> SecretBox:
        return self._box

    @property
    def events(self) -> AdminEventSink:
        return self._events

    # -- adding ------------------------------------------------------------------------------------

    async def add_api_key(
        self, environment: Environment, api_key: SecretStr, *, principal: str | None = None, actor: str
    ) -> CredentialInfo:
        return await self._add(
            environment=environment,
            principal=principal,
            kind=CredentialKind.API_KEY,
            secret=api_key,
            columns={},
            actor=actor,
        )

    async def add_oauth_client(
        self,
        environment: Environment,
        *,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        auth_method: ClientAuthMethod,
        scope: str | None = None,
        principal: str | None = None,
        actor: str,
    ) -> CredentialInfo:
        """`client_secret` is the shared secret, or the PEM private key for `private_key_jwt`."""
        return await self._add(
            environment=environment,
            principal=principal,
            kind=CredentialKind.OAUTH_CLIENT,
            secret=client_secret,
            columns={
                "token_url": token_url,
                "client_id": client_id,
                "auth_method": auth_method.value,
                "scope": scope,
            },
            actor=actor,
        )

    async def add_access_token(
        self,
        environment: Environment,
        access_token: SecretStr,
        *,
        expires_at: datetime,
        principal: str | None = None,
        actor: str,
    ) -> CredentialInfo:
        return await self._add(
            environment=environment,
            principal=principal,
            kind=CredentialKind.ACCESS_TOKEN,
            secret=access_token,
            columns={"access_expires_at": expires_at},
            actor=actor,
        )

    async def _add(
        self,
        *,
        environment: Environment,
        principal: str | None,
        kind: CredentialKind,
        secret: SecretStr,
        columns: Mapping[str, Any],
        actor: str,
    ) -> CredentialInfo:
        """Insert a credential, replacing any previous one for the same (environment, principal)."""
        principal = principal or None
        credential_id = "cred_" + secrets.token_hex(12)
        now = self._clock()
        replaced = await self.find_exact(environment, principal)
        details: dict[str, Any] = {"kind": kind.value, "environment": environment.value}
        if principal:
            details["principal"] = principal
        if replaced is not None:
            details["replaces"] = replaced.id
        for name in ("token_url", "client_id", "auth_method", "scope"):
            if columns.get(name):
                details[name] = columns[name]
        await self._events.admin_event(
            action="credential.added", actor=actor, target=credential_id, details=details
        )
        values = {
            "id": credential_id,
            "environment": environment.value,
            "principal": principal,
            "kind": kind.value,
            "status": CredentialStatus.ACTIVE.value,
            "key_id": self._box.current_key_id,
            "secret": self._seal(credential_id, kind, environment, principal, "secret", secret),
            "version": 1,
            "created_at": now,
            "created_by": actor,
            "updated_at": now,
            **columns,
        }
        async with self._store.engine.begin() as conn:
            if replaced is not None:
                await conn.execute(delete(_table).where(_table.c.id == replaced.id))
            await conn.execute(insert(_table).values(**values))
        _log.info(
            "credential.added", credential_id=credential_id, kind=kind.value, environment=environment.value
        )
        info = await self.get(credential_id)
        assert info is not None
        return info

    # -- reading -----------------------------------------------------------------------------------

    async def list(self) -> list[CredentialInfo]:
        async with self._store.engine.connect() as conn:
            rows = await conn.execute(
                select(_table).order_by(_table.c.environment, _table.c.principal, _table.c.created_at)
            )
            return [_info(row) for row in rows]

    async def get(self, credential_id: str) -> CredentialInfo | None:
        async with self._store.engine.connect() as conn:
            row = (await conn.execute(select(_table).where(_table.c.id == credential_id))).one_or_none()
        return _info(row) if row is not None else None

    async def find_exact(self, environment: Environment, principal: str | None) -> CredentialInfo | None:
        """The credential stored for exactly this (environment, principal); None principal = default."""
        condition = _table.c.principal.is_(None) if principal is None else _table.c.principal == principal
        async with self._store.engine.connect() as conn:
            row = (
                await conn.execute(select(_table).where(_table.c.environment == environment.value, condition))
            ).one_or_none()
        return _info(row) if row is not None else None

    async def find(self, environment: Environment, principal: str | None) -> CredentialInfo | None:
        """The credential that applies: the principal's own, else the environment's default.

        Rows are always filtered by `environment`: a row stored for one environment is never
        returned for another, whatever the principal.
        """
        async with self._store.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(_table).where(
                        _table.c.environment == environment.value,
                        (_table.c.principal.is_(None) | (_table.c.principal == (principal or ""))),
                    )
                )
            ).all()
        by_principal = {row.principal: row for row in rows}
        chosen = by_principal.get(principal) if principal else None
        chosen = chosen if chosen is not None else by_principal.get(None)
        return _info(chosen) if chosen is not None else None

    async def load(self, credential_id: str) -> StoredCredential | None:
        """The credential with its secrets opened (fails loudly on a tampered or moved ciphertext)."""
        async with self._store.engine.connect() as conn:
            row = (await conn.execute(select(_table).where(_table.c.id == credential_id))).one_or_none()
        return self._open(row) if row is not None else None

    # -- token rotation ----------------------------------------------------------------------------

    @asynccontextmanager
    async def locked(self, credential_id: str) -> AsyncIterator[LockedCredential]:
        """Hold the credential's row while deciding whether to refresh and storing the result.

        PostgreSQL: `SELECT ... FOR UPDATE` inside one transaction, so a second replica blocks here
        until the first commits and then reads the token the first one stored. SQLite: the read takes
        no lock (one process; the in-process lock already serialises), and the compare-and-swap on
        `version` rejects a stale write.
        """
        async with self._store.engine.connect() as conn, conn.begin():
            row = (
                await conn.execute(select(_table).where(_table.c.id == credential_id).with_for_update())
            ).one_or_none()
            if row is None:
                raise CredentialNotFoundError(f"credential {credential_id} no longer exists")
            yield LockedCredential(self, conn, self._open(row))

    # -- admin changes -----------------------------------------------------------------------------

    async def remove(self, credential_id: str, *, actor: str) -> CredentialInfo:
        info = await self.get(credential_id)
        if info is None:
            raise CredentialNotFoundError(f"no credential with id {credential_id}")
        await self._events.admin_event(
            action="credential.removed",
            actor=actor,
            target=credential_id,
            details={"kind": info.kind.value, "environment": info.environment.value},
        )
        async with self._store.engine.begin() as conn:
            await conn.execute(delete(_table).where(_table.c.id == credential_id))
        _log.info("credential.removed", credential_id=credential_id)
        return info

    async def report_disabled(self, info: CredentialInfo, *, reason: str, actor: str) -> None:
        """Audit a disable that already happened; a failing sink is logged, never re-raised."""
        try:
            await self._events.admin_event(
                action="credential.disabled",
                actor=actor,
                target=info.id,
                details={"kind": info.kind.value, "environment": info.environment.value, "reason": reason},
            )
        except Exception as exc:
            _log.error("credential.disable_unaudited", credential_id=info.id, error=type(exc).__name__)

    async def rotate_key(self, new_box: SecretBox, *, actor: str) -> int:
        """Re-encrypt every row not yet under `new_box.current_key_id`; returns the rows changed.

        `new_box` must hold both the old and the new key. Each row is re-sealed in its own transaction
        (compare-and-swap on `version`, retried if a refresh raced it), so an interrupted rotation
        leaves every row readable with the two keys and can simply be run again.
        """
        target = new_box.current_key_id
        async with self._store.engine.connect() as conn:
            pending = (
                await conn.execute(select(_table.c.id, _table.c.key_id).where(_table.c.key_id != target))
            ).all()
        await self._events.admin_event(
            action="credentials.key_rotated",
            actor=actor,
            target=target,
            details={"from_key_ids": sorted({row.key_id for row in pending}), "rows": len(pending)},
        )
        changed = 0
        for row in pending:
            if await self._reseal(row.id, new_box):
                changed += 1
        _log.info("credentials.key_rotated", key_id=target, rows=changed)
        return changed

    async def _reseal(self, credential_id: str, new_box: SecretBox) -> bool:
        for _ in range(_ROTATION_ATTEMPTS):
            async with self._store.engine.connect() as conn:
                row = (await conn.execute(select(_table).where(_table.c.id == credential_id))).one_or_none()
            if row is None or row.key_id == new_box.current_key_id:
                return False
            stored = self._open(row, box=new_box)
            info = stored.info
            values: dict[str, Any] = {"key_id": new_box.current_key_id, "version": info.version + 1}
            for name in _SECRET_FIELDS:
                value: SecretStr | None = getattr(stored, name)
                values[name] = None if value is None else self._seal_info(info, name, value, box=new_box)
            async with self._store.engine.begin() as conn:
                result = await conn.execute(
                    update(_table)
                    .where(_table.c.id == credential_id, _table.c.version == info.version)
                    .values(**values)
                )
            if result.rowcount == 1:
                return True
        raise RuntimeError(f"credential {credential_id} kept changing during key rotation; run it again")

    # -- sealing -----------------------------------------------------------------------------------

    def _seal(
        self,
        credential_id: str,
        kind: CredentialKind,
        environment: Environment,
        principal: str | None,
        field: str,
        value: SecretStr,
        *,
        box: SecretBox | None = None,
    ) -> bytes:
        aad = associated_data(credential_id, kind.value, environment.value, principal or "", field)
        return (box or self._box).seal(value.get_secret_value(), aad)

    def _seal_info(
        self, info: CredentialInfo, field: str, value: SecretStr, *, box: SecretBox | None = None
    ) -> bytes:
        return self._seal(info.id, info.kind, info.environment, info.principal, field, value, box=box)

    def _open(self, row: Row[Any], *, box: SecretBox | None = None) -> StoredCredential:
        info = _info(row)
        opener = box or self._box

        def open_field(field: str) -> SecretStr | None:
            sealed: bytes | None = getattr(row, field)
            if sealed is None:
                return None
            aad = associated_data(
                info.id, info.kind.value, info.environment.value, info.principal or "", field
            )
            return SecretStr(opener.open(info.key_id, bytes(sealed), aad))

        secret = open_field("secret")
        assert secret is not None
        return StoredCredential(
            info=info,
            secret=secret,
            access_token=open_field("access_token"),
            refresh_token=open_field("refresh_token"),
        )


class LockedCredential:
    """The row as read under the lock, and the writes allowed while holding it."""

    def __init__(self, owner: CredentialStore, conn: AsyncConnection, current: StoredCredential) -> None:
        self._owner = owner
        self._conn = conn
        self.current = current

    async def save_tokens(
        self,
        *,
        access_token: SecretStr,
        expires_at: datetime | None,
        refresh_token: SecretStr | None,
        refreshed_at: datetime,
    ) -> bool:
        """Store a new token pair if nobody changed the row since it was read (False otherwise)."""
        info = self.current.info
        values = {
            "access_token": self._owner._seal_info(info, "access_token", access_token),
            "refresh_token": (
                None
                if refresh_token is None
                else self._owner._seal_info(info, "refresh_token", refresh_token)
            ),
            "access_expires_at": expires_at,
            "last_refreshed_at": refreshed_at,
            "updated_at": refreshed_at,
        }
        return await self._swap(values)

    async def disable(self, *, reason: str, at: datetime) -> bool:
        """Mark the credential dead, unless the row changed since it was read (False then)."""
        return await self._swap(
            {"status": CredentialStatus.DISABLED.value, "disabled_reason": reason, "updated_at": at}
        )

    async def _swap(self, values: Mapping[str, Any]) -> bool:
        info = self.current.info
        result = await self._conn.execute(
            update(_table)
            .where(
                _table.c.id == info.id,
                _table.c.version == info.version,
                _table.c.key_id == info.key_id,
            )
            .values(version=_table.c.version + 1, **values)
        )
        return result.rowcount == 1


def _info(row: Row[Any]) -> CredentialInfo:
    return CredentialInfo(
        id=row.id,
        environment=Environment(row.environment),
        principal=row.principal,
        kind=CredentialKind(row.kind),
        status=CredentialStatus(row.status),
        disabled_reason=row.disabled_reason,
        key_id=row.key_id,
        version=row.version,
        access_expires_at=row.access_expires_at,
        last_refreshed_at=row.last_refreshed_at,
        token_url=row.token_url,
        client_id=row.client_id,
        auth_method=ClientAuthMethod(row.auth_method) if row.auth_method else None,
        scope=row.scope,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
    )


__all__ = ["CredentialStore", "LockedCredential"]
