import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from persona_mcp.auth.credentials.secretbox import (
    KEY_FILE_NAME,
    DecryptionError,
    SecretBox,
    SecretBoxError,
    UnknownKeyError,
    associated_data,
    encode_key,
    generate_key,
    key_id_for,
    load_secret_box,
)


def test_a_sealed_secret_opens_with_the_same_key_and_row_binding() -> None:
    box = SecretBox.from_keys(generate_key())
    aad = associated_data("cred_1", "api_key", "sandbox", "", "secret")
    sealed = box.seal("persona_sandbox_abc", aad)
    assert b"persona_sandbox_abc" not in sealed
    assert box.open(box.current_key_id, sealed, aad) == "persona_sandbox_abc"


def test_sealing_twice_uses_a_fresh_nonce() -> None:
    box = SecretBox.from_keys(generate_key())
    aad = associated_data("cred_1", "api_key", "sandbox", "", "secret")
    assert box.seal("same", aad)[:12] != box.seal("same", aad)[:12]


def test_a_tampered_ciphertext_fails_to_open() -> None:
    box = SecretBox.from_keys(generate_key())
    aad = associated_data("cred_1", "api_key", "sandbox", "", "secret")
    sealed = bytearray(box.seal("persona_sandbox_abc", aad))
    sealed[-1] ^= 0x01
    with pytest.raises(DecryptionError):
        box.open(box.current_key_id, bytes(sealed), aad)


@pytest.mark.parametrize(
    "other",
    [
        ("cred_2", "api_key", "sandbox", "", "secret"),
        ("cred_1", "api_key", "production", "", "secret"),
        ("cred_1", "oauth_client", "sandbox", "", "secret"),
        ("cred_1", "api_key", "sandbox", "alice", "secret"),
        ("cred_1", "api_key", "sandbox", "", "refresh_token"),
    ],
)
def test_a_ciphertext_moved_to_another_row_kind_environment_or_field_fails_to_open(
    other: tuple[str, ...],
) -> None:
    box = SecretBox.from_keys(generate_key())
    sealed = box.seal("secret", associated_data("cred_1", "api_key", "sandbox", "", "secret"))
    with pytest.raises(DecryptionError):
        box.open(box.current_key_id, sealed, associated_data(*other))


def test_associated_data_parts_cannot_be_reshuffled_into_a_collision() -> None:
    assert associated_data("a|b", "c") != associated_data("a", "b|c")


def test_a_ciphertext_under_an_unknown_key_names_the_missing_key() -> None:
    old, new = generate_key(), generate_key()
    aad = associated_data("cred_1", "api_key", "sandbox", "", "secret")
    sealed = SecretBox.from_keys(old).seal("x", aad)
    with pytest.raises(UnknownKeyError, match=key_id_for(old)):
        SecretBox.from_keys(new).open(key_id_for(old), sealed, aad)


def test_the_key_file_is_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    first = load_secret_box(None, tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / KEY_FILE_NAME).st_mode)
    assert mode == 0o600
    second = load_secret_box(None, tmp_path)
    assert first.current_key_id == second.current_key_id


def test_the_configured_key_wins_over_the_key_file(tmp_path: Path) -> None:
    key = generate_key()
    box = load_secret_box(SecretStr(encode_key(key)), tmp_path)
    assert box.current_key_id == key_id_for(key)
    assert not (tmp_path / KEY_FILE_NAME).exists()


@pytest.mark.parametrize("value", ["not base64!!", encode_key(b"short")])
def test_a_malformed_configured_key_is_refused(value: str, tmp_path: Path) -> None:
    with pytest.raises(SecretBoxError):
        load_secret_box(SecretStr(value), tmp_path)
