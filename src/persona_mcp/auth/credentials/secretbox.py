"""AES-GCM encryption of stored secrets under a key that never enters the database.

Each ciphertext is `nonce (12 random bytes) || AES-256-GCM(plaintext)`, bound by associated data to the
row, the credential kind, the environment and the field it belongs to: a ciphertext copied into another
row or column no longer decrypts, so an attacker with write access to the database cannot move a
production secret into a sandbox row. The key comes from `PERSONA_MCP_SECRET_KEY` (base64 of 32 bytes)
or from a key file (default `<data dir>/secret.key`, created with mode 0600 on first use). Keys are
named by an id derived from their bytes, stored next to the ciphertexts, so rotation can tell which rows
still need re-encryption and a missing key is reported by name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import stat
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from persona_mcp.operator_error import ConfigError

_log = structlog.get_logger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE_NAME = "secret.key"
#: Written before a rotation starts and promoted to `secret.key` once every row is re-encrypted, so a
#: rotation cut short leaves both keys on disk and every row readable.
NEXT_KEY_FILE_NAME = "secret.key.next"


class SecretBoxError(Exception):
    """A secret could not be sealed or opened; the message never contains key or plaintext bytes."""


class UnknownKeyError(SecretBoxError):
    """The ciphertext names a key this process does not hold."""


class DecryptionError(SecretBoxError):
    """Wrong key, tampered ciphertext, or a ciphertext moved to another row or field."""


class MissingSecretKeyError(SecretBoxError, ConfigError):
    """Stored credentials exist but their key does not: a new key would make them unreadable for good."""


def key_id_for(key: bytes) -> str:
    """A stable, non-secret name for a key (a truncated hash, so it reveals nothing useful)."""
    return "k_" + hashlib.sha256(b"persona-mcp secret key id\x00" + key).hexdigest()[:16]


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_key(encoded: str) -> bytes:
    """Parse a base64 key of exactly 32 bytes."""
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecretBoxError("the secret key is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise SecretBoxError(f"the secret key must be {KEY_BYTES} bytes (base64-encoded); got {len(key)}")
    return key


def associated_data(*parts: str) -> bytes:
    """Length-prefixed join, so ("a|b", "c") and ("a", "b|c") can never collide."""
    out = bytearray(b"persona-mcp/credential/v1")
    for part in parts:
        raw = part.encode("utf-8")
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


@dataclass(frozen=True, slots=True)
class SecretBox:
    """Seals secrets under the current key; opens with any key it holds (the current one or, during a
    rotation, the next one)."""

    current_key_id: str
    _keys: Mapping[str, AESGCM]

    @classmethod
    def from_keys(cls, current: bytes, *others: bytes) -> SecretBox:
        keys = {key_id_for(k): AESGCM(k) for k in (current, *others)}
        return cls(current_key_id=key_id_for(current), _keys=keys)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def seal(self, plaintext: str, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._keys[self.current_key_id].encrypt(nonce, plaintext.encode("utf-8"), aad)

    def open(self, key_id: str, sealed: bytes, aad: bytes) -> str:
        cipher = self._keys.get(key_id)
        if cipher is None:
            raise UnknownKeyError(
                f"stored secrets are encrypted under key {key_id}, which this server does not have; "
                "set PERSONA_MCP_SECRET_KEY or the key file to that key"
            )
        if len(sealed) <= NONCE_BYTES:
            raise DecryptionError("stored ciphertext is truncated")
        try:
            plaintext = cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag:
            raise DecryptionError(
                "a stored secret failed authentication: it was altered, moved from another row, or "
                "encrypted under a different key"
            ) from None
        return plaintext.decode("utf-8")

    def with_current(self, key: bytes) -> SecretBox:
        """The same keyring with `key` added and made current (rotation target)."""
        keys = dict(self._keys)
        keys[key_id_for(key)] = AESGCM(key)
        return SecretBox(current_key_id=key_id_for(key), _keys=keys)


def load_secret_box(
    secret_key: SecretStr | None, data_dir: Path, *, stored_key_ids: Collection[str] = ()
) -> SecretBox:
    """The box for this installation: the configured key, else the key file (created on first use).

    A `secret.key.next` left by an interrupted rotation is loaded too, so rows already re-encrypted
    stay readable until `credentials rotate-key` is run again to finish.

    `stored_key_ids` are the keys the stored credentials are encrypted under. While there are any, a
    missing key file is never replaced by a new key (which could open none of them): that is refused
    with `MissingSecretKeyError`, naming the key to restore.
    """
    extra = list(_read_optional_key(data_dir / NEXT_KEY_FILE_NAME))
    if secret_key is not None:
        return SecretBox.from_keys(decode_key(secret_key.get_secret_value()), *extra)
    path = data_dir / KEY_FILE_NAME
    if stored_key_ids and not path.exists():
        raise MissingSecretKeyError(
            f"stored credentials are encrypted under key {', '.join(sorted(set(stored_key_ids)))}, but "
            f"PERSONA_MCP_SECRET_KEY is not set and {path} does not exist; no new key is created, it "
            "could decrypt none of them",
            f"restore {path} from your backup or set PERSONA_MCP_SECRET_KEY to that key; if it is lost, "
            "remove the credentials (`persona-mcp credentials remove ID`) and add them again",
        )
    return SecretBox.from_keys(_read_or_create_key_file(path), *extra)


def write_key_file(path: Path, key: bytes) -> None:
    """Create `path` with mode 0600 holding `key` (fails if it exists: keys are never overwritten)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(encode_key(key) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _read_or_create_key_file(path: Path) -> bytes:
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    try:
        write_key_file(path, generate_key())
        _log.info("secret_key.created", path=str(path))
    except FileExistsError:
        pass  # another process created it between our read and our create: use theirs
    return _read_key_file(path)


def _read_optional_key(path: Path) -> Iterable[bytes]:
    try:
        yield _read_key_file(path)
    except FileNotFoundError:
        return


def _read_key_file(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        _log.warning("secret_key.permissions_too_open", path=str(path), mode=oct(mode & 0o777))
    return decode_key(path.read_text(encoding="ascii"))
