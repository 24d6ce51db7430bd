"""Persona-shaped identifiers: a type prefix and 24 random alphanumerics from a seeded RNG."""

from __future__ import annotations

import random
import string

_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 24


class IdFactory:
    """Mints ids from its own RNG so that fault injection and other draws never shift them."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"ids:{seed}")

    def new(self, prefix: str) -> str:
        return f"{prefix}_" + "".join(self._rng.choices(_ALPHABET, k=_ID_LENGTH))

    def token(self, length: int = 32) -> str:
        return "".join(self._rng.choices(_ALPHABET, k=length))
