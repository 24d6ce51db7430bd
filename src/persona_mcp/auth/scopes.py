"""The one permission vocabulary: scopes, what each implies, and the Persona key permissions each needs.

`delete` (irreversible or lifecycle-ending: redact, archive, consolidate, expire, secret rotation) and
`inquiries:decide` (approve, decline, mark for review) are never implied by `write`. `write` implies
`read` of the same family, because an agent that may change an object may also look at it. Nothing else
is implied. This module imports nothing from the package, so tool specs can name their scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Scope(StrEnum):
    ACCOUNTS_READ = "accounts:read"
    ACCOUNTS_WRITE = "accounts:write"
    ACCOUNTS_DELETE = "accounts:delete"
    INQUIRIES_READ = "inquiries:read"
    INQUIRIES_WRITE = "inquiries:write"
    INQUIRIES_DELETE = "inquiries:delete"
    INQUIRIES_DECIDE = "inquiries:decide"
    LISTS_READ = "lists:read"
    LISTS_WRITE = "lists:write"
    LISTS_DELETE = "lists:delete"
    WEBHOOKS_READ = "webhooks:read"
    WEBHOOKS_WRITE = "webhooks:write"
    WEBHOOKS_DELETE = "webhooks:delete"
    EVENTS_READ = "events:read"
    DOCUMENTS_READ = "documents:read"
    DOCUMENTS_WRITE = "documents:write"
    TRANSACTIONS_READ = "transactions:read"
    TRANSACTIONS_WRITE = "transactions:write"
    TRANSACTIONS_DELETE = "transactions:delete"
    TRANSACTIONS_DECIDE = "transactions:decide"
    LOGS_READ = "logs:read"
    IMPORTERS_READ = "importers:read"
    IMPORTERS_WRITE = "importers:write"
    WORKFLOWS_READ = "workflows:read"
    WORKFLOWS_WRITE = "workflows:write"
    TEMPLATES_READ = "templates:read"
    TEMPLATES_WRITE = "templates:write"
    DEVICES_READ = "devices:read"
    RATE_LIMITS_READ = "rate_limits:read"
    PII_READ = "pii:read"
    AUDIT_READ = "audit:read"
    AUDIT_ALL_ENVIRONMENTS = "audit:all_environments"


DESCRIPTIONS: dict[Scope, str] = {
    Scope.ACCOUNTS_READ: "List, search and read accounts and their relations.",
    Scope.ACCOUNTS_WRITE: "Create and update accounts, tags, relations; run account actions.",
    Scope.ACCOUNTS_DELETE: "Redact or consolidate accounts (irreversible).",
    Scope.INQUIRIES_READ: "List, search and read inquiries and inquiry sessions; print inquiry PDFs.",
    Scope.INQUIRIES_WRITE: "Create, update, resume and tag inquiries; create sessions and one-time links.",
    Scope.INQUIRIES_DELETE: "Redact or expire inquiries and inquiry sessions (lifecycle-ending).",
    Scope.INQUIRIES_DECIDE: "Approve, decline or mark inquiries for review (decisions).",
    Scope.LISTS_READ: "List and read lists and list items.",
    Scope.LISTS_WRITE: "Create lists and list items.",
    Scope.LISTS_DELETE: "Archive lists and list items.",
    Scope.WEBHOOKS_READ: "List and read webhooks.",
    Scope.WEBHOOKS_WRITE: "Create, update, clone, enable and disable webhooks.",
    Scope.WEBHOOKS_DELETE: "Archive webhooks and rotate their signing secrets.",
    Scope.EVENTS_READ: "List and read events.",
    Scope.DOCUMENTS_READ: "Read documents (government ids, generic documents) and their file links.",
    Scope.DOCUMENTS_WRITE: "Create, update and submit documents.",
    Scope.TRANSACTIONS_READ: "List and read transactions.",
    Scope.TRANSACTIONS_WRITE: "Create and update transactions, their tags and relations.",
    Scope.TRANSACTIONS_DELETE: "Redact transactions or their biometrics (irreversible).",
    Scope.TRANSACTIONS_DECIDE: "Label transactions (a decision, e.g. fraud or not fraud).",
    Scope.LOGS_READ: "List and read Persona's API logs and dashboard user audit logs.",
    Scope.IMPORTERS_READ: "List and read bulk imports.",
    Scope.IMPORTERS_WRITE: "Start bulk imports of accounts and list items (CSV or images).",
    Scope.WORKFLOWS_READ: "List and read workflow runs and workflow versions.",
    Scope.WORKFLOWS_WRITE: "Trigger workflow runs.",
    Scope.TEMPLATES_READ: "List and read inquiry templates, their versions and translations.",
    Scope.TEMPLATES_WRITE: "Import inquiry template translations.",
    Scope.DEVICES_READ: "List and read devices seen in inquiry sessions.",
    Scope.RATE_LIMITS_READ: "Read the API key's current rate limits.",
    Scope.PII_READ: "See personal data unmasked in tool results.",
    Scope.AUDIT_READ: "Query this server's audit log (reviewer tools): the calls of the grant's environment.",
    Scope.AUDIT_ALL_ENVIRONMENTS: "With audit:read, see every record: other environments', admin records.",
}

#: What a scope grants beyond itself. Deliberately small: only write -> read.
IMPLIES: dict[Scope, frozenset[Scope]] = {
    Scope.ACCOUNTS_WRITE: frozenset({Scope.ACCOUNTS_READ}),
    Scope.INQUIRIES_WRITE: frozenset({Scope.INQUIRIES_READ}),
    Scope.LISTS_WRITE: frozenset({Scope.LISTS_READ}),
    Scope.WEBHOOKS_WRITE: frozenset({Scope.WEBHOOKS_READ}),
    Scope.DOCUMENTS_WRITE: frozenset({Scope.DOCUMENTS_READ}),
    Scope.TRANSACTIONS_WRITE: frozenset({Scope.TRANSACTIONS_READ}),
    Scope.IMPORTERS_WRITE: frozenset({Scope.IMPORTERS_READ}),
    Scope.WORKFLOWS_WRITE: frozenset({Scope.WORKFLOWS_READ}),
    Scope.TEMPLATES_WRITE: frozenset({Scope.TEMPLATES_READ}),
}

#: Persona API-key permissions (PROTOCOL.md section 2) each scope needs upstream.
PERSONA_PERMISSIONS: dict[Scope, frozenset[str]] = {
    Scope.ACCOUNTS_READ: frozenset({"account.read"}),
    Scope.ACCOUNTS_WRITE: frozenset({"account.write"}),
    Scope.ACCOUNTS_DELETE: frozenset({"account.write"}),
    Scope.INQUIRIES_READ: frozenset({"inquiry.read"}),
    Scope.INQUIRIES_WRITE: frozenset({"inquiry.write"}),
    Scope.INQUIRIES_DELETE: frozenset({"inquiry.write"}),
    Scope.INQUIRIES_DECIDE: frozenset({"inquiry.write"}),
    Scope.LISTS_READ: frozenset({"list.read"}),
    Scope.LISTS_WRITE: frozenset({"list.write"}),
    Scope.LISTS_DELETE: frozenset({"list.write"}),
    Scope.WEBHOOKS_READ: frozenset({"webhook.read"}),
    Scope.WEBHOOKS_WRITE: frozenset({"webhook.write"}),
    Scope.WEBHOOKS_DELETE: frozenset({"webhook.write"}),
    Scope.EVENTS_READ: frozenset({"event.read"}),
    Scope.DOCUMENTS_READ: frozenset({"document.read"}),
    Scope.DOCUMENTS_WRITE: frozenset({"document.write"}),
    Scope.TRANSACTIONS_READ: frozenset({"txn.read"}),
    Scope.TRANSACTIONS_WRITE: frozenset({"txn.write"}),
    Scope.TRANSACTIONS_DELETE: frozenset({"txn.write"}),
    Scope.TRANSACTIONS_DECIDE: frozenset({"txn.write"}),
    Scope.LOGS_READ: frozenset({"api_log.read", "user_audit_log.read"}),
    # PROTOCOL.md section 2 names no permission of their own for the rest: imports write accounts and
    # list items, templates belong to inquiries, devices to inquiry sessions; workflows have `trigger`.
    Scope.IMPORTERS_READ: frozenset({"list.read"}),
    Scope.IMPORTERS_WRITE: frozenset({"list.write", "account.write"}),
    Scope.WORKFLOWS_READ: frozenset(),
    Scope.WORKFLOWS_WRITE: frozenset({"workflow.trigger"}),
    Scope.TEMPLATES_READ: frozenset({"inquiry.read"}),
    Scope.TEMPLATES_WRITE: frozenset({"inquiry.write"}),
    Scope.DEVICES_READ: frozenset({"inquiry.read"}),
    Scope.RATE_LIMITS_READ: frozenset(),
    Scope.PII_READ: frozenset(),
    Scope.AUDIT_READ: frozenset(),
    Scope.AUDIT_ALL_ENVIRONMENTS: frozenset(),
}

#: What `grants create` gives when no scopes are named: every read scope, no PII, no audit.
DEFAULT_READ_ONLY: frozenset[Scope] = frozenset(
    {
        Scope.ACCOUNTS_READ,
        Scope.INQUIRIES_READ,
        Scope.LISTS_READ,
        Scope.WEBHOOKS_READ,
        Scope.EVENTS_READ,
    }
)


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
    held = set(scopes)
    for scope in list(held):
        held |= IMPLIES.get(scope, frozenset())
    return frozenset(held)


def covers(held: Iterable[Scope], required: Scope) -> bool:
    """Whether the held scopes (with implications) include `required`."""
    return required in expand(held)
