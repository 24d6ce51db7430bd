"""Test doubles shared by the auth tests (a module, not conftest, so tests can import them)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

TOOL_NAMES = frozenset(
    {"list_accounts", "get_account", "create_account", "redact_account", "approve_inquiry"}
)


@dataclass
class RecordingSink:
    """Keeps every admin event; `fail` makes the next events raise like a broken audit log."""

    events: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False

    async def admin_event(
        self, *, action: str, actor: str, target: str, details: Mapping[str, Any] | None = None
    ) -> None:
        if self.fail:
            raise OSError("audit log unavailable")
        self.events.append(
            {"action": action, "actor": actor, "target": target, "details": dict(details or {})}
        )

    @property
    def actions(self) -> list[str]:
        return [event["action"] for event in self.events]


@dataclass
class Clock:
    """Wall-clock time the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Issuer:
    """A test authorization server: signing keys and a JWKS served in process through httpx2."""

    ISSUER = "https://auth.example.test/"
    JWKS_URL = "https://auth.example.test/.well-known/jwks.json"
    RESOURCE = "https://mcp.example.test/mcp"

    def __init__(self) -> None:
        from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

        self.keys = {
            "rsa-1": RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}),
            "ec-1": ECKey.generate_key("P-256", parameters={"kid": "ec-1"}),
            "ed-1": OKPKey.generate_key("Ed25519", parameters={"kid": "ed-1"}),
        }
        self.published = KeySet(list(self.keys.values()))
        self.jwks_requests = 0

    def transport(self) -> Any:
        import httpx2

        def handle(request: httpx2.Request) -> httpx2.Response:
            assert str(request.url) == self.JWKS_URL
            self.jwks_requests += 1
            return httpx2.Response(200, json=self.published.as_dict(private=False))

        return httpx2.MockTransport(handle)

    def token(
        self,
        *,
        kid: str = "rsa-1",
        alg: str = "RS256",
        key: Any = None,
        now: float,
        lifetime: int = 300,
        **claims: Any,
    ) -> str:
        from joserfc import jwt

        payload: dict[str, Any] = {
            "iss": self.ISSUER,
            "aud": self.RESOURCE,
            "sub": "alice",
            "iat": int(now),
            "exp": int(now) + lifetime,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "EdDSA is deprecated via RFC 9864": issuers still use it
            return jwt.encode({"alg": alg, "kid": kid}, payload, key or self.keys[kid], algorithms=[alg])
