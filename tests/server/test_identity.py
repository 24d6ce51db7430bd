"""The server's instructions state the shared conventions once: every ID kind's prefix among them."""

from __future__ import annotations

import re

from persona_mcp.persona.ids import PREFIXES, ObjectKind
from persona_mcp.server.identity import INSTRUCTIONS


def test_the_instructions_name_a_prefix_of_every_id_kind() -> None:
    named = set(re.findall(r"\b([a-z]+)_(?=[\s,.;)]|\.\.\.)", INSTRUCTIONS))
    missing = [kind.value for kind in ObjectKind if not named & set(PREFIXES[kind])]
    assert missing == [], f"server/identity.py INSTRUCTIONS lack an ID prefix for: {missing}"


def test_every_prefix_the_instructions_name_is_a_real_one() -> None:
    known = {prefix for prefixes in PREFIXES.values() for prefix in prefixes}
    named = set(re.findall(r"\b([a-z]+)_(?=[\s,.;)])", INSTRUCTIONS))
    assert named and named <= known, named - known
