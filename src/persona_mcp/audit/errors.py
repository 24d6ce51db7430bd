"""Audit errors. Messages never carry record contents, keys or arguments."""

from __future__ import annotations


class AuditError(Exception):
    """Base class of audit errors."""


class AuditUnavailableError(AuditError):
    """A record could not be durably written: the caller must refuse the call (fail closed)."""


class AuditStalledError(AuditUnavailableError):
    """The record could not be written within the store's bounds on waiting (a lock held elsewhere, a
    frozen replica): refused like any unavailability, reported as a stall so the operator looks for the
    holder rather than at the disk."""


class KeyFileError(AuditError):
    """A key file is missing, unreadable, malformed or readable by others."""


__all__ = ["AuditError", "AuditStalledError", "AuditUnavailableError", "KeyFileError"]
