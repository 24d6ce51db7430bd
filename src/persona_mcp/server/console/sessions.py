"""Console sign-in sessions: a signed cookie naming a person's grant, and CSRF tokens bound to it.

Stateless on purpose: the cookie carries the grant id, the grant's current token id and an expiry, signed
with a key derived from the audit PII key (which every replica shares). Every request re-reads the grant,
so revoking it, letting it expire or rotating its token ends the session on the next page, on every
replica, with nothing to clean up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

#: How long a sign-in lasts at most (a grant that expires sooner ends it sooner).
SESSION_LIFETIME = timedelta(hours=8)
SESSION_COOKIE = "persona_mcp_console"
#: Set on the sign-in page before anyone is signed in: the sign-in form's CSRF token is bound to it.
PRESESSION_COOKIE = "persona_mcp_console_pre"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    grant_id: str
    token_id: str
    expires_at: datetime
    nonce: str


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

    def seal(self, grant_id: str, token_id: str, expires_at: datetime) -> str:
        payload = {"g": grant_id, "t": token_id, "e": int(expires_at.timestamp()), "n": secrets.token_hex(8)}
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._mac('session', body)}"

    def open(self, cookie: str | None, now: datetime) -> ConsoleSession | None:
        """The session the cookie names, if its signature holds and it has not expired; None otherwise."""
        if not cookie or "." not in cookie:
            return None
        body, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac("session", body)):
            return None
        try:
            payload = json.loads(_unb64(body))
            expires_at = datetime.fromtimestamp(int(payload["e"]), tz=now.tzinfo)
            session = ConsoleSession(str(payload["g"]), str(payload["t"]), expires_at, str(payload["n"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires_at > now else None

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
    "PRESESSION_COOKIE",
    "SESSION_COOKIE",
    "SESSION_LIFETIME",
    "ConsoleSession",
    "SessionCodec",
    "new_presession",
]
