"""Grant tokens: `pmcp_<token id>_<secret>`, stored only as a salted SHA-256 digest.

The token id (16 hex characters) is not secret: it is the indexed lookup key, so resolving a token is one
primary-key-like read followed by a constant-time digest comparison. The secret part is
`secrets.token_urlsafe(32)` (256 bits), which is why a fast salted hash is enough: there is nothing to
brute-force that a slow KDF would protect, and a slow KDF would cost every uncached call.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

PREFIX = "pmcp_"
_TOKEN_ID_BYTES = 8
_SECRET_BYTES = 32
_SALT_BYTES = 16
_TOKEN_RE = re.compile(r"^pmcp_([0-9a-f]{16})_([A-Za-z0-9_-]{43,})$")


@dataclass(frozen=True, slots=True)
class MintedToken:
    """A fresh token and what the store keeps of it."""

    token: str = field(repr=False)
    token_id: str
    salt: bytes = field(repr=False)
    digest: bytes = field(repr=False)


def mint() -> MintedToken:
    """A new random token with its lookup id, salt and digest."""
    token_id = secrets.token_hex(_TOKEN_ID_BYTES)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    salt = secrets.token_bytes(_SALT_BYTES)
    return MintedToken(token=token, token_id=token_id, salt=salt, digest=digest(token, salt))


def token_id_of(token: str) -> str | None:
    """The lookup id embedded in a well-formed grant token, or None for anything else."""
    match = _TOKEN_RE.match(token)
    return match.group(1) if match else None


def looks_like_grant_token(token: str) -> bool:
    return token.startswith(PREFIX)


def digest(token: str, salt: bytes) -> bytes:
    return hashlib.sha256(salt + token.encode("utf-8")).digest()


def matches(token: str, salt: bytes, expected: bytes) -> bool:
    """Constant-time comparison of the token's digest with the stored one."""
    return hmac.compare_digest(digest(token, salt), expected)
