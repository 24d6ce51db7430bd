"""The one permission vocabulary: each scope declared once, as one row.

A row says the scope's name, what it allows, the Persona API-key permissions it needs upstream
(PROTOCOL.md section 2), the scopes it implies, and whether `grants create` gives it when no scopes are
named. `DESCRIPTIONS`, `IMPLIES`, `PERSONA_PERMISSIONS` and `DEFAULT_READ_ONLY` are views of the rows.

`delete` (irreversible or lifecycle-ending: redact, archive, consolidate, expire, secret rotation) and
`<family>:decide` (decisions such as approve, decline, mark for review) are never implied by `write`.
`write` implies `read` of the same family, because an agent that may change an object may also look at
it. Nothing else is implied. This module imports nothing from the package, so tool specs can name their
scope.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, NamedTuple


class ScopeRow(NamedTuple):
    """One scope's declaration (the value a `Scope` member is declared with)."""

    name: str
    description: str
    persona_permissions: tuple[str, ...] = ()
    implies: tuple[str, ...] = ()
    read_only_default: bool = False


def read(name: str, description: str, *permissions: str, default: bool = False) -> ScopeRow:
    """A read scope: implies nothing; `default` puts it in the grant given when no scopes are named."""
    return ScopeRow(name, description, permissions, read_only_default=default)


def write(name: str, description: str, *permissions: str) -> ScopeRow:
    """A write scope: implies the read scope of its family, and nothing else."""
    return ScopeRow(name, description, permissions, implies=(f"{name.split(':')[0]}:read",))


def own(name: str, description: str, *permissions: str) -> ScopeRow:
    """A scope implied by nothing and implying nothing (delete, decide, pii, audit)."""
    return ScopeRow(name, description, permissions)


class Scope(StrEnum):
    """Every scope, one row each; the member's value is the scope's name."""

    persona_permissions: frozenset[str]
    description: str
    read_only_default: bool
    _implied: tuple[str, ...]

    def __new__(cls, *row: Any) -> Scope:
        # Enum unpacks each member's `ScopeRow` into `row`; `Scope(name)` looks a member up instead.
        declared = ScopeRow(*row)
        member = str.__new__(cls, declared.name)
        member._value_ = declared.name
        member.description = declared.description
        member.persona_permissions = frozenset(declared.persona_permissions)
        member.read_only_default = declared.read_only_default
        member._implied = declared.implies
        return member

    ACCOUNTS_READ = read(
        "accounts:read", "List, search and read accounts and their relations.", "account.read", default=True
    )
    ACCOUNTS_WRITE = write(
        "accounts:write", "Create and update accounts, tags, relations; run account actions.", "account.write"
    )
    ACCOUNTS_DELETE = own(
        "accounts:delete", "Redact or consolidate accounts (irreversible).", "account.write"
    )
    INQUIRIES_READ = read(
        "inquiries:read",
        "List, search and read inquiries and inquiry sessions; print inquiry PDFs.",
        "inquiry.read",
        default=True,
    )
    INQUIRIES_WRITE = write(
        "inquiries:write",
        "Create, update, resume and tag inquiries; create sessions and one-time links.",
        "inquiry.write",
    )
    INQUIRIES_DELETE = own(
        "inquiries:delete",
        "Redact or expire inquiries and inquiry sessions (lifecycle-ending).",
        "inquiry.write",
    )
    INQUIRIES_DECIDE = own(
        "inquiries:decide", "Approve, decline or mark inquiries for review (decisions).", "inquiry.write"
    )
    LISTS_READ = read("lists:read", "List and read lists and list items.", "list.read", default=True)
    LISTS_WRITE = write("lists:write", "Create lists and list items.", "list.write")
    LISTS_DELETE = own("lists:delete", "Archive lists and list items.", "list.write")
    WEBHOOKS_READ = read("webhooks:read", "List and read webhooks.", "webhook.read", default=True)
    WEBHOOKS_WRITE = write(
        "webhooks:write", "Create, update, clone, enable and disable webhooks.", "webhook.write"
    )
    WEBHOOKS_DELETE = own(
        "webhooks:delete", "Archive webhooks and rotate their signing secrets.", "webhook.write"
    )
    EVENTS_READ = read("events:read", "List and read events.", "event.read", default=True)
    REPORTS_READ = read(
        "reports:read",
        "List and read reports and their history; print report PDFs; wait for a report.",
        "report.read",
        default=True,
    )
    REPORTS_WRITE = write(
        "reports:write", "Create, re-run and tag reports; pause or resume their monitoring.", "report.write"
    )
    REPORTS_DELETE = own("reports:delete", "Redact reports (irreversible).", "report.write")
    REPORTS_DECIDE = own(
        "reports:decide", "Dismiss a report's matches (a screening decision).", "report.write"
    )
    CASES_READ = read("cases:read", "List, search and read cases.", "case.read", default=True)
    CASES_WRITE = write(
        "cases:write", "Create, update, assign and tag cases; attach or detach objects.", "case.write"
    )
    CASES_DELETE = own("cases:delete", "Redact cases (irreversible).", "case.write")
    CASES_DECIDE = own("cases:decide", "Set a case's status (a review decision).", "case.write")
    VERIFICATIONS_READ = read(
        "verifications:read",
        "Read verifications of every type; print verification PDFs.",
        "verification.read",
        default=True,
    )
    VERIFICATIONS_WRITE = write(
        "verifications:write",
        "Lock verifications for investigation; run database-business checks.",
        "verification.write",
    )
    VERIFICATIONS_DELETE = own(
        "verifications:delete", "Redact verifications (irreversible).", "verification.write"
    )
    DOCUMENTS_READ = read(
        "documents:read",
        "Read documents (government ids, generic documents) and their file links.",
        "document.read",
    )
    DOCUMENTS_WRITE = write("documents:write", "Create, update and submit documents.", "document.write")
    TRANSACTIONS_READ = read("transactions:read", "List and read transactions.", "txn.read")
    TRANSACTIONS_WRITE = write(
        "transactions:write", "Create and update transactions, their tags and relations.", "txn.write"
    )
    TRANSACTIONS_DELETE = own(
        "transactions:delete", "Redact transactions or their biometrics (irreversible).", "txn.write"
    )
    TRANSACTIONS_DECIDE = own(
        "transactions:decide", "Label transactions (a decision, e.g. fraud or not fraud).", "txn.write"
    )
    LOGS_READ = read(
        "logs:read",
        "List and read Persona's API logs and dashboard user audit logs.",
        "api_log.read",
        "user_audit_log.read",
    )
    IMPORTERS_READ = read("importers:read", "List and read bulk imports.", "list.read")
    IMPORTERS_WRITE = write(
        "importers:write",
        "Start bulk imports of accounts and list items (CSV or images).",
        "list.write",
        "account.write",
    )
    WORKFLOWS_READ = read("workflows:read", "List and read workflow runs and workflow versions.")
    WORKFLOWS_WRITE = write("workflows:write", "Trigger workflow runs.", "workflow.trigger")
    TEMPLATES_READ = read(
        "templates:read", "List and read inquiry templates, their versions and translations.", "inquiry.read"
    )
    TEMPLATES_WRITE = write("templates:write", "Import inquiry template translations.", "inquiry.write")
    DEVICES_READ = read("devices:read", "List and read devices seen in inquiry sessions.", "inquiry.read")
    RATE_LIMITS_READ = read("rate_limits:read", "Read the API key's current rate limits.")
    PII_READ = own("pii:read", "See personal data unmasked in tool results.")
    AUDIT_READ = own(
        "audit:read",
        "Query this server's audit log (reviewer tools): the calls of the grant's environment.",
    )
    AUDIT_ALL_ENVIRONMENTS = own(
        "audit:all_environments", "With audit:read, see every record: other environments', admin records."
    )
    APPROVALS_DECIDE = own(
        "approvals:decide", "Approve or reject other principals' calls held for approval (a person's grant)."
    )
    ADMIN = own(
        "console:admin",
        "Use the console's admin pages: create, revoke and rotate grants; see credentials' status.",
    )

    @property
    def family(self) -> str:
        """`accounts` for `accounts:read`: the group of tools (and toolsets) the scope belongs to."""
        return self.value.split(":", 1)[0]

    @property
    def implies(self) -> frozenset[Scope]:
        """What holding this scope grants beyond itself."""
        return frozenset(Scope(name) for name in self._implied)


DESCRIPTIONS: dict[Scope, str] = {scope: scope.description for scope in Scope}

#: What a scope grants beyond itself. Deliberately small: only write -> read.
IMPLIES: dict[Scope, frozenset[Scope]] = {scope: scope.implies for scope in Scope if scope.implies}

#: Persona API-key permissions (PROTOCOL.md section 2) each scope needs upstream.
PERSONA_PERMISSIONS: dict[Scope, frozenset[str]] = {scope: scope.persona_permissions for scope in Scope}

#: What `grants create` gives when no scopes are named: the rows marked read-only default (no PII, no audit).
DEFAULT_READ_ONLY: frozenset[Scope] = frozenset(scope for scope in Scope if scope.read_only_default)


class UnknownScopeError(ValueError):
    """A scope name outside the vocabulary: always an error, never ignored."""


def parse_scopes(names: Iterable[str]) -> frozenset[Scope]:
    """Parse scope names, refusing any unknown one with the list of valid names."""
    scopes: set[Scope] = set()
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        try:
            scopes.add(Scope(name))
        except ValueError:
            valid = ", ".join(s.value for s in Scope)
            raise UnknownScopeError(f"unknown scope {name!r}; valid scopes: {valid}") from None
    return frozenset(scopes)


def expand(scopes: Iterable[Scope]) -> frozenset[Scope]:
    """The scopes held, with what they imply."""
    return _expanded(scopes if isinstance(scopes, frozenset) else frozenset(scopes))


@functools.lru_cache(maxsize=1024)
def _expanded(scopes: frozenset[Scope]) -> frozenset[Scope]:
    # Remembered: every call asks several times for the few scope sets the grants hold (issue 18).
    held = set(scopes)
    for scope in list(held):
        held |= IMPLIES.get(scope, frozenset())
    return frozenset(held)


def covers(held: Iterable[Scope], required: Scope) -> bool:
    """Whether the held scopes (with implications) include `required`."""
    return required in expand(held)
