"""Console sign-in sessions: a signed cookie naming a person's grant, and CSRF tokens bound to it.

Stateless on purpose: the cookie carries the grant id, the grant's current token id and an expiry, signed
with a key derived from the audit PII key (which every replica shares). Every request re-reads the grant,
so revoking it, letting it expire or rotating its token ends the session on the next page, on every
replica, with nothing to clean up. A sign-in through the authorization server also carries the person and
the scopes of its token and the token family, which must stay live.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

#: How long a sign-in lasts at most (a grant that expires sooner ends it sooner).
SESSION_LIFETIME = timedelta(hours=8)
SESSION_COOKIE = "persona_mcp_console"
#: Set on the sign-in page before anyone is signed in: the sign-in form's CSRF token is bound to it.
PRESESSION_COOKIE = "persona_mcp_console_pre"
#: A sign-in through the authorization server under way: its `state` and PKCE verifier, signed.
FLOW_COOKIE = "persona_mcp_console_oauth"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    grant_id: str
    token_id: str
    expires_at: datetime
    nonce: str
    #: Signed in through the authorization server: the person and scopes of the token, and its family.
    person: str | None = None
    scopes: tuple[str, ...] | None = None
    family_id: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Signs and opens session cookies, and makes and checks CSRF tokens."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the console session key must be at least 32 bytes")
        self._key = key

    def _mac(self, purpose: str, value: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest())

    def seal(
        self,
        grant_id: str,
        token_id: str,
        expires_at: datetime,
        *,
        person: str | None = None,
        scopes: tuple[str, ...] | None = None,
        family_id: str | None = None,
    ) -> str:
        payload: dict[str, Any] = {
            "g": grant_id,
            "t": token_id,
            "e": int(expires_at.timestamp()),
            "n": secrets.token_hex(8),
        }
        if family_id is not None:
            payload |= {"p": person, "s": list(scopes or ()), "f": family_id}
        return self._signed("session", payload)

    def open(self, cookie: str | None, now: datetime) -> ConsoleSession | None:
        """The session the cookie names, if its signature holds and it has not expired; None otherwise."""
        payload = self._opened("session", cookie)
        if payload is None:
            return None
        try:
            expires_at = datetime.fromtimestamp(int(payload["e"]), tz=now.tzinfo)
            family = payload.get("f")
            session = ConsoleSession(
                str(payload["g"]),
                str(payload["t"]),
                expires_at,
                str(payload["n"]),
                person=str(payload["p"]) if family is not None else None,
                scopes=tuple(str(name) for name in payload["s"]) if family is not None else None,
                family_id=str(family) if family is not None else None,
            )
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires_at > now else None

    def seal_flow(self, state: str, verifier: str, expires_at: datetime) -> str:
        """The flow cookie of a sign-in through the authorization server."""
        return self._signed("oauth flow", {"s": state, "v": verifier, "e": int(expires_at.timestamp())})

    def open_flow(self, cookie: str | None, now: datetime) -> tuple[str, str] | None:
        """The `state` and PKCE verifier of an unexpired flow cookie signed here, or None."""
        payload = self._opened("oauth flow", cookie)
        try:
            if payload is None or int(payload["e"]) <= int(now.timestamp()):
                return None
            return str(payload["s"]), str(payload["v"])
        except (ValueError, KeyError, TypeError):
            return None

    def _signed(self, purpose: str, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def _opened(self, purpose: str, cookie: str | None) -> dict[str, Any] | None:
        if not cookie or "." not in cookie:
            return None
        body, mac = cookie.rsplit(".", 1)
        if not mac.isascii() or not hmac.compare_digest(mac, self._mac(purpose, body)):
            return None
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None

    def csrf_token(self, bound_to: str) -> str:
        """The token a form must carry: bound to the session (or pre-session) cookie it was served with."""
        return self._mac("csrf", bound_to)

    def csrf_valid(self, bound_to: str | None, token: str | None) -> bool:
        if not bound_to or not token:
            return False
        return hmac.compare_digest(token, self.csrf_token(bound_to))


def new_presession() -> str:
    return secrets.token_urlsafe(24)


__all__ = [
    "FLOW_COOKIE",
    "PRESESSION_COOKIE",
    "SESSION_COOKIE",
    "SESSION_LIFETIME",
    "ConsoleSession",
    "SessionCodec",
    "new_presession",
]
