"""Seed data (`seed="demo"`): a small, deterministic environment to look at and test against."""

from __future__ import annotations

from collections.abc import Callable

from persona_mcp.sandbox.domain import accounts
from persona_mcp.sandbox.store import SandboxState

_PEOPLE = (
    ("usr-1001", "Jane", "Doe", "jane@example.com", "US"),
    ("usr-1002", "Ahmed", "Khan", "ahmed@example.com", "GB"),
    ("usr-1003", "Maria", "Rossi", "maria@example.com", "IT"),
    ("usr-1004", "Kenji", "Sato", "kenji@example.com", "JP"),
    ("usr-1005", "Ana", "Silva", "ana@example.com", "BR"),
)


def demo(state: SandboxState) -> None:
    """Five accounts (one tagged VIP)."""
    for reference_id, first, last, email, country in _PEOPLE:
        accounts.create_account(
            state,
            {
                "reference-id": reference_id,
                "name-first": first,
                "name-last": last,
                "email-address": email,
                "country-code": country,
                "tags": ["vip"] if reference_id == "usr-1001" else [],
            },
        )


def seeder_for(seed: str | None) -> Callable[[SandboxState], None] | None:
    if seed is None:
        return None
    if seed == "demo":
        return demo
    raise ValueError(f"unknown seed {seed!r} (known: demo)")
