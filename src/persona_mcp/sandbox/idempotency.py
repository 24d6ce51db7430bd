"""Replays of POSTs that carry an `Idempotency-Key` (PROTOCOL.md section 4).

The first answer to a key is stored with a fingerprint of the request; the same request again gets the same
status and body, a different request under the same key is refused. Keys are scoped per credential, as
Persona scopes them per environment. 401 and 429 never reach the cache (it sits behind both).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status: int
    body: bytes
    content_type: str


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """Identify a request by what it asks for; equal JSON bodies match whatever their whitespace."""
    try:
        canonical = (
            json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")) if body.strip() else ""
        )
    except ValueError:
        canonical = body.decode("latin-1")
    return hashlib.sha256(f"{method} {path}?{query}\n{canonical}".encode()).hexdigest()


class IdempotencyCache:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], StoredResponse] = {}

    def get(self, scope: str, key: str) -> StoredResponse | None:
        return self._entries.get((scope, key))

    def put(self, scope: str, key: str, response: StoredResponse) -> None:
        self._entries[(scope, key)] = response

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
