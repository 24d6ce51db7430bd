"""Audit errors. Messages never carry record contents, keys or arguments."""

from __future__ import annotations


class AuditError(Exception):
    """Base class of audit errors."""


class AuditUnavailableError(AuditError):
    """A record could not be durably written: the caller must refuse the call (fail closed)."""


class KeyFileError(AuditError):
    """A key file is missing, unreadable, malformed or readable by others."""


__all__ = ["AuditError", "AuditUnavailableError", "KeyFileError"]
