"""Errors a credential lookup or refresh can end in. Messages name the fix, never a secret."""

from __future__ import annotations


class CredentialUnavailableError(RuntimeError):
    """No usable upstream credential for this call.

    `str()` is what the agent is shown (the server returns it as the tool result), so it is fixed text
    naming at most the environment: no token URL, client id or token-endpoint wording, which are
    upstream- or admin-chosen. `admin_detail` is for the administrator (log, CLI): the cause and the
    command that fixes it. `permanent` is True when only an administrator can fix it (no credential, a
    disabled one, an expired access token); False when the token endpoint failed transiently and a
    later call may work.
    """

    def __init__(self, message: str, *, permanent: bool = True, admin_detail: str | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.admin_detail = admin_detail if admin_detail is not None else message

    @classmethod
    def needs_admin(cls, environment: str, admin_detail: str) -> CredentialUnavailableError:
        """Only an administrator can fix it; the agent learns just that."""
        return cls(
            f"the upstream credential for {environment} is unavailable; an administrator must reconnect "
            "it (see `persona-mcp credentials list`)",
            permanent=True,
            admin_detail=admin_detail,
        )

    @classmethod
    def try_later(cls, environment: str, admin_detail: str) -> CredentialUnavailableError:
        """A transient failure renewing the credential; a later call may succeed."""
        return cls(
            f"the upstream credential for {environment} could not be renewed just now; try again shortly",
            permanent=False,
            admin_detail=admin_detail,
        )


class CredentialNotFoundError(LookupError):
    """`credentials remove ID` (or another admin action) named an id that does not exist."""
