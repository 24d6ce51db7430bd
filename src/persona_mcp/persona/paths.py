"""Path safety: the last check before a path is joined to the base URL.

Tools build paths from validated IDs (`persona.ids`), so this check should never fire. It exists as defence
in depth: whatever reaches the client - a tool bug, a value from a response, a future caller - cannot walk
out of the API prefix (`..`, `//`), smuggle a query or fragment (`?`, `#`), double-encode (`%`), or split a
request (whitespace, control characters). Only a conservative allowlist of characters passes. Refusals name
the rule that failed and never echo the path, which may hold arbitrary input.
"""

from __future__ import annotations

import re

from persona_mcp.persona.errors import UnsafePathError

_ALLOWED = re.compile(r"/[A-Za-z0-9._~/-]*")
_MAX_LENGTH = 1024

#: (substring test, reason) pairs checked in order, so the reason names the most specific rule.
_RULES: tuple[tuple[str, str], ...] = (
    ("..", "path contains '..'"),
    ("//", "path contains an empty segment ('//')"),
    ("%", "path contains '%' (percent-encoding is not accepted)"),
    ("?", "path contains '?' (pass query parameters separately)"),
    ("#", "path contains '#'"),
    ("\\", "path contains a backslash"),
)


def check_path(path: str) -> str:
    """Return `path` unchanged if it is safe to send, else raise `UnsafePathError` (nothing is sent)."""
    if (  # every call's path passes: one regex and four substring tests, the rules below only to refuse
        type(path) is str
        and len(path) <= _MAX_LENGTH
        and _ALLOWED.fullmatch(path)
        and ".." not in path
        and "//" not in path
        and "/./" not in path
        and not path.endswith("/.")
    ):
        return path
    if not isinstance(path, str) or not path.startswith("/"):
        raise UnsafePathError("path must be a string starting with '/'")
    if len(path) > _MAX_LENGTH:
        raise UnsafePathError(f"path longer than {_MAX_LENGTH} characters")
    for needle, reason in _RULES:
        if needle in path:
            raise UnsafePathError(reason)
    if any(ch.isspace() for ch in path):
        raise UnsafePathError("path contains whitespace")
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in path):
        raise UnsafePathError("path contains a control character")
    if any(segment == "." for segment in path.split("/")):
        raise UnsafePathError("path contains a '.' segment")
    if not _ALLOWED.fullmatch(path):
        raise UnsafePathError("path contains a character outside A-Z a-z 0-9 . _ ~ - /")
    return path


def is_safe_path(path: str) -> bool:
    """True when `check_path` would accept `path`."""
    try:
        check_path(path)
    except UnsafePathError:
        return False
    return True
