"""Least privilege for Persona API keys: which key permissions the granted scopes actually use.

Each scope maps to the Persona permissions it needs (`persona_mcp.auth.scopes.PERSONA_PERMISSIONS`).
A key holding more than the union over every live grant is wider than it has to be; Persona exposes a
key's permissions as the `permissions` attribute of `GET /api-keys/{id}`, so the server can warn.
"""

from __future__ import annotations

from collections.abc import Iterable

from persona_mcp.auth.scopes import PERSONA_PERMISSIONS, Scope, expand


def required_permissions(granted_scopes: Iterable[Scope]) -> frozenset[str]:
    """Persona permissions needed to serve every tool the scopes (with their implications) allow."""
    needed: set[str] = set()
    for scope in expand(granted_scopes):
        needed |= PERSONA_PERMISSIONS.get(scope, frozenset())
    return frozenset(needed)


def excess_permissions(key_permissions: Iterable[str], granted_scopes: Iterable[Scope]) -> frozenset[str]:
    """Permissions the key holds that no granted scope needs: candidates to remove from the key."""
    return frozenset(key_permissions) - required_permissions(granted_scopes)


def missing_permissions(key_permissions: Iterable[str], granted_scopes: Iterable[Scope]) -> frozenset[str]:
    """Permissions the scopes need that the key lacks: those tools will get 403 from Persona."""
    return required_permissions(granted_scopes) - frozenset(key_permissions)
