"""Signed checkpoints: (seq, hash, timestamp, instance, count) under the server's Ed25519 key.

A checkpoint pins the chain at one point. Anyone holding a checkpoint and the public key can later prove
that the log still contains the same history up to that point: a truncated tail or a table rebuilt with a
recomputed chain no longer matches. Checkpoints live in `audit_checkpoints` and, always, outside the
database: as JSON lines appended (O_APPEND, fsync) to a file, by default `<data dir>/audit-checkpoints.jsonl`,
and, when a witness URL is configured, POSTed to that witness as well (`witness`). Only copies held outside
the database anchor the log: whoever can rewrite the table can delete the table's checkpoints with it.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from persona_mcp.audit.keys import key_id, public_b64, public_from_b64

CHECKPOINT_TYPE = "persona-mcp.audit.checkpoint/v1"
CHECKPOINT_FILE = "audit-checkpoints.jsonl"


class Checkpoint(BaseModel):
    """A signed statement: "the record at `seq` has hash `hash`, and the chain holds `count` records"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    hash: str = Field(min_length=64, max_length=64)
    timestamp: str
    instance_id: str
    count: int = Field(ge=1)
    key_id: str = Field(description="SHA-256 hex of the raw public key that signed.")
    public_key: str = Field(description="The signing public key, raw 32 bytes, base64.")
    signature: str = Field(description="Ed25519 signature over signed_payload(), base64.")

    def signed_payload(self) -> bytes:
        return signed_payload(self.seq, self.hash, self.timestamp, self.instance_id, self.count, self.key_id)

    def signature_valid(self) -> bool:
        """Whether the signature verifies under the embedded key (trust in that key is checked apart)."""
        try:
            public = public_from_b64(self.public_key)
            if key_id(public) != self.key_id:
                return False
            public.verify(base64.b64decode(self.signature, validate=True), self.signed_payload())
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_row(self) -> dict[str, Any]:
        row = self.model_dump()
        row["created_at"] = row.pop("timestamp")
        row["record_count"] = row.pop("count")
        return row

    @classmethod
    def from_row(cls, row: Any) -> Checkpoint:
        return cls(
            seq=row.seq,
            hash=row.hash,
            timestamp=row.created_at,
            instance_id=row.instance_id,
            count=row.record_count,
            key_id=row.key_id,
            public_key=row.public_key,
            signature=row.signature,
        )


def signed_payload(seq: int, hash_: str, timestamp: str, instance_id: str, count: int, kid: str) -> bytes:
    fields: dict[str, Any] = {
        "type": CHECKPOINT_TYPE,
        "seq": seq,
        "hash": hash_,
        "timestamp": timestamp,
        "instance_id": instance_id,
        "count": count,
        "key_id": kid,
    }
    encoded: bytes = rfc8785.dumps(fields)
    return encoded


def sign_checkpoint(
    key: Ed25519PrivateKey, *, seq: int, hash_: str, timestamp: str, instance_id: str, count: int
) -> Checkpoint:
    public: Ed25519PublicKey = key.public_key()
    kid = key_id(public)
    signature = key.sign(signed_payload(seq, hash_, timestamp, instance_id, count, kid))
    return Checkpoint(
        seq=seq,
        hash=hash_,
        timestamp=timestamp,
        instance_id=instance_id,
        count=count,
        key_id=kid,
        public_key=public_b64(public),
        signature=base64.b64encode(signature).decode(),
    )


@dataclass(frozen=True, slots=True)
class CheckpointAnchor:
    """Where signed checkpoints are kept outside the database: always a file, and maybe a witness."""

    file: Path
    witness_url: str | None = None


def is_witness_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def checkpoint_anchor(location: str | Path | None, data_dir: Path) -> CheckpointAnchor:
    """The anchor for the `audit_checkpoint_location` setting.

    Unset: `<data dir>/audit-checkpoints.jsonl`. A path: that file (a directory holds
    `audit-checkpoints.jsonl`). An http(s) URL: a witness that is sent every checkpoint, besides the file
    in the data directory.
    """
    default = data_dir / CHECKPOINT_FILE
    if location is None or str(location).strip() == "":
        return CheckpointAnchor(default)
    if isinstance(location, str) and is_witness_url(location.strip()):
        return CheckpointAnchor(default, location.strip())
    path = Path(location).expanduser()
    return CheckpointAnchor(path / CHECKPOINT_FILE if path.is_dir() else path)


def append_external(path: Path, checkpoints: Iterable[Checkpoint]) -> None:
    """Append one JSON line per checkpoint, opened O_APPEND and fsynced before returning."""
    data = b"".join(cp.model_dump_json().encode() + b"\n" for cp in checkpoints)
    if not data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_checkpoint_file(path: Path) -> Iterator[Checkpoint]:
    """Checkpoints from a JSON-lines file (or a single JSON object / array)."""
    text = path.read_text()
    stripped = text.strip()
    if stripped.startswith("["):
        for item in json.loads(stripped):
            yield Checkpoint.model_validate(item)
        return
    for line in text.splitlines():
        if line.strip():
            yield Checkpoint.model_validate_json(line)


__all__ = [
    "CHECKPOINT_FILE",
    "Checkpoint",
    "CheckpointAnchor",
    "append_external",
    "checkpoint_anchor",
    "is_witness_url",
    "read_checkpoint_file",
    "sign_checkpoint",
    "signed_payload",
]
