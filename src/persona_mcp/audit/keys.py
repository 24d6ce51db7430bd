"""The two audit keys, each a file under the data directory created on first use with mode 0600.

* `audit-signing.key`: Ed25519 private key (PKCS#8 PEM) signing checkpoints. Its public half is what an
  outside verifier keeps (`persona-mcp audit pubkey`).
* `audit-pii.key`: 32 random bytes (hex) keying the HMAC digests of personal values; it lives outside the
  audit tables so that a copy of the database alone cannot confirm a guessed value.

Files are created with O_EXCL so two processes starting together agree on one key; a file that group or
others may read is refused rather than used.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from persona_mcp.audit.errors import KeyFileError

SIGNING_KEY_FILE = "audit-signing.key"
PII_KEY_FILE = "audit-pii.key"
PII_KEY_ENV = "PERSONA_MCP_AUDIT_PII_KEY"
SIGNING_KEY_ENV = "PERSONA_MCP_AUDIT_SIGNING_KEY_FILE"


def _read_or_create(path: Path, create: Callable[[], bytes]) -> bytes:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        try:
            os.write(fd, create())
            os.fsync(fd)
        finally:
            os.close(fd)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path} is accessible to group or others; chmod 600 it")
    data = path.read_bytes()
    if not data:
        raise KeyFileError(f"{path} is empty")
    return data


def _new_signing_key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def signing_key_path(data_dir: Path) -> Path:
    """The configured signing key file (`PERSONA_MCP_AUDIT_SIGNING_KEY_FILE`) or the data dir default."""
    configured = os.environ.get(SIGNING_KEY_ENV)
    return Path(configured) if configured else data_dir / SIGNING_KEY_FILE


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """Read (or create on first use) the Ed25519 checkpoint signing key."""
    key = serialization.load_pem_private_key(_read_or_create(path, _new_signing_key), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} does not hold an Ed25519 private key")
    return key


def existing_public_key(path: Path) -> Ed25519PublicKey | None:
    """The public half of an existing signing key file, without creating one (for verification)."""
    if not path.exists():
        return None
    return load_signing_key(path).public_key()


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """Fingerprint of a public key: SHA-256 hex of its raw 32 bytes."""
    return hashlib.sha256(public_raw(key)).hexdigest()


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def public_b64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(public_raw(key)).decode()


def public_from_b64(value: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(value, validate=True))


def load_public_pem(data: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError("not an Ed25519 public key")
    return key


def load_pii_key(data_dir: Path) -> bytes:
    """The HMAC key: `PERSONA_MCP_AUDIT_PII_KEY` (hex, or any text of 32+ bytes) or the data dir file."""
    configured = os.environ.get(PII_KEY_ENV)
    if configured:
        return _decode_key(configured.strip(), source=PII_KEY_ENV)
    raw = _read_or_create(data_dir / PII_KEY_FILE, lambda: secrets.token_hex(32).encode())
    return _decode_key(raw.decode().strip(), source=PII_KEY_FILE)


def _decode_key(text: str, *, source: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = text.encode()
    if len(key) < 32:
        raise KeyFileError(f"{source}: the PII digest key must be at least 32 bytes")
    return key


__all__ = [
    "PII_KEY_ENV",
    "PII_KEY_FILE",
    "SIGNING_KEY_ENV",
    "SIGNING_KEY_FILE",
    "existing_public_key",
    "key_id",
    "load_pii_key",
    "load_public_pem",
    "load_signing_key",
    "public_b64",
    "public_from_b64",
    "public_pem",
    "public_raw",
    "signing_key_path",
]
