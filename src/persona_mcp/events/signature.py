"""`Persona-Signature` verification (PROTOCOL.md section 12, "Signature verification").

The header is `t=<unix seconds>,v1=<hex>`; during a secret rotation it carries one such pair per valid
secret, separated by spaces. `v1` is hex(HMAC-SHA256(secret, "<t>.<raw body>")). A delivery is accepted
when any pair whose timestamp is within the tolerance matches a digest under any currently valid secret,
compared in constant time. Persona documents no tolerance; refusing old timestamps is what stops a
captured delivery from being replayed later (the event store's dedup stops it inside the window).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

#: Default tolerance between the signed timestamp and this server's clock (both directions).
DEFAULT_TOLERANCE_SECONDS = 300
#: A header longer than this is refused unread (a rotation has two pairs of ~80 characters).
MAX_HEADER_CHARS = 4096


@dataclass(frozen=True, slots=True)
class SignedPair:
    timestamp: int
    digest: str


class SignatureRefused(Exception):
    """Why a delivery's signature was refused; `reason` is safe to record (no secret, no digest)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_header(header: str | None) -> list[SignedPair]:
    """The (t, v1) pairs of a header; raises `SignatureRefused` when there is none or it is malformed."""
    if not header:
        raise SignatureRefused("missing Persona-Signature header")
    if len(header) > MAX_HEADER_CHARS:
        raise SignatureRefused("Persona-Signature header too long")
    pairs: list[SignedPair] = []
    for part in header.split():
        fields: dict[str, list[str]] = {}
        for item in part.split(","):
            key, sep, value = item.partition("=")
            if sep:
                fields.setdefault(key.strip(), []).append(value.strip())
        stamps = fields.get("t", [])
        if len(stamps) != 1 or not stamps[0].isdigit() or len(stamps[0]) > 12:
            raise SignatureRefused("malformed Persona-Signature header")
        for digest in fields.get("v1", []):
            pairs.append(SignedPair(int(stamps[0]), digest.lower()))
    if not pairs:
        raise SignatureRefused("malformed Persona-Signature header")
    return pairs


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """hex(HMAC-SHA256(secret, "<t>.<body>")): how Persona signs a delivery."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """The header Persona sends for `body` signed at `timestamp` with each of `secrets`."""
    return " ".join(f"t={timestamp},v1={sign(secret, timestamp, body)}" for secret in secrets)


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[str],
    *,
    now: float,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """The signed timestamp of a delivery whose signature verifies; raises `SignatureRefused` otherwise.

    Every pair is tried against every secret, so the comparison's timing says nothing about which failed.
    """
    pairs = parse_header(header)
    if not secrets:
        raise SignatureRefused("no valid secret for this endpoint")
    fresh = [pair for pair in pairs if abs(now - pair.timestamp) <= tolerance_seconds]
    if not fresh:
        raise SignatureRefused(f"stale timestamp (outside {tolerance_seconds:g} s)")
    matched: int | None = None
    for pair in fresh:
        for secret in secrets:
            if hmac.compare_digest(sign(secret, pair.timestamp, body), pair.digest):
                matched = pair.timestamp
    if matched is None:
        raise SignatureRefused("signature mismatch")
    return matched
