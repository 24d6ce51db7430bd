"""Fixtures for the credentials tests: a recording audit sink, a secret box, a credential store."""

from __future__ import annotations

import pytest

from persona_mcp.auth.credentials import CredentialStore, SecretBox
from persona_mcp.auth.credentials.secretbox import generate_key
from persona_mcp.store import Store

from ._support import RecordingSink


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def box() -> SecretBox:
    return SecretBox.from_keys(generate_key())


@pytest.fixture
def credential_store(store: Store, box: SecretBox, sink: RecordingSink) -> CredentialStore:
    return CredentialStore(store, box, events=sink)
