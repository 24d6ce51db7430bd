"""The random values the authorization server hands out, and the digests it keeps instead of them.

Each value is a prefix naming its kind plus `secrets.token_urlsafe(32)` (256 bits), so one unsalted
SHA-256 digest is both a safe thing to store and the lookup key: nothing can be brute-forced from it,
and a leaked database holds no usable code or token. The prefix tells the caller resolver which store to
ask, and lets secret scanners recognise a leaked token.
"""

from __future__ import annotations

import hashlib
import secrets

ACCESS_PREFIX = "pmat_"
REFRESH_PREFIX = "pmrt_"
CODE_PREFIX = "pmac_"
CONSENT_PREFIX = "pmcr_"
CSRF_PREFIX = "pmcs_"

_SECRET_BYTES = 32


def mint(prefix: str) -> str:
    """A fresh random value of the kind `prefix` names."""
    return f"{prefix}{secrets.token_urlsafe(_SECRET_BYTES)}"


def digest(value: str) -> bytes:
    """What the store keeps of a code, token or handle (its SHA-256)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def new_family_id() -> str:
    """Names the tokens issued from one authorization code and all their refreshes (not a secret)."""
    return f"fam_{secrets.token_hex(12)}"


def looks_like_access_token(token: str) -> bool:
    return token.startswith(ACCESS_PREFIX)
