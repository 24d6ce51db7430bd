"""Errors a credential lookup or refresh can end in. Messages name the fix, never a secret."""

from __future__ import annotations


class CredentialUnavailableError(RuntimeError):
    """No usable upstream credential for this call.

    `permanent` is True when only an administrator can fix it (no credential, a disabled one, an
    expired access token); False when the token endpoint failed transiently and a later call may work.
    """

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


class CredentialNotFoundError(LookupError):
    """`credentials remove ID` (or another admin action) named an id that does not exist."""
