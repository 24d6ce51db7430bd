"""Toolsets as values: the groups of tools a server can offer, and which of them it offers by default.

Every tool names its toolset by id (`ToolSpec.toolset`), and the catalogue refuses a tool whose toolset
is not declared here, so a family plugs in by adding one row. The same rows write `serve --toolsets`'
help, the headings of docs/tools.md and the grouping of the scope tables.

A server offers the default toolsets unless told otherwise, as github-mcp-server does: `--toolsets all`
opens everything, `--toolsets default,webhooks` adds one family to the default ones. The default set is
what a trust-and-safety or compliance agent needs every day; families that configure the organisation or
serve other roles are opt-in, which keeps the listing every agent pays for small (the byte budgets in
tests/tools/test_catalogue_size.py). Why each opt-in family is opt-in is said in its description.

This module imports nothing from the package: the CLI reads it for `--help` before the server stack is
imported.
"""

from __future__ import annotations

from dataclasses import dataclass

#: `--toolsets all`: every declared toolset.
ALL = "all"
#: `--toolsets default`: the default toolsets (combine: `default,webhooks`).
DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Toolset:
    """One group of tools: how it is named, shown and scoped, and whether a server offers it unasked."""

    id: str
    title: str
    description: str
    #: The `<family>` of the scopes its tools need (`<family>:read`, `<family>:write`, ...).
    scope_family: str
    default: bool


TOOLSETS: tuple[Toolset, ...] = (
    Toolset(
        "accounts",
        "Accounts",
        "Persona's record of one of your users: read, search, create, update, tag, relate, redact.",
        "accounts",
        default=True,
    ),
    Toolset(
        "inquiries",
        "Inquiries",
        "Verification attempts from creation to decision: read, search, create, tag, decide, print.",
        "inquiries",
        default=True,
    ),
    Toolset(
        "inquiry_sessions",
        "Inquiry sessions",
        "The devices and links of an inquiry: list, create, expire, one-time links.",
        "inquiries",
        default=True,
    ),
    Toolset(
        "verifications",
        "Verifications",
        "The checks inside an inquiry (government id, selfie, database...): read, print, lock.",
        "verifications",
        default=True,
    ),
    Toolset(
        "reports",
        "Reports",
        "Watchlist, PEP, adverse-media and other screenings: run, read, dismiss matches, redact.",
        "reports",
        default=True,
    ),
    Toolset(
        "cases",
        "Cases",
        "The manual-review queue: list, search, read, create, assign, set status, attach objects.",
        "cases",
        default=True,
    ),
    Toolset(
        "events",
        "Events",
        "What happened to which object, and when: list and read events.",
        "events",
        default=True,
    ),
    Toolset(
        "business_verifications",
        "Business verifications",
        "Opt-in (hidden endpoints the public spec does not confirm): run database-business checks.",
        "verifications",
        default=False,
    ),
    Toolset(
        "lists",
        "Lists",
        "Opt-in (organisation set-up, not daily review): allow and block lists, create and archive.",
        "lists",
        default=False,
    ),
    Toolset(
        "list_items",
        "List items",
        "Opt-in (organisation set-up): the entries of allow and block lists, one tool per item type.",
        "lists",
        default=False,
    ),
    Toolset(
        "webhooks",
        "Webhooks",
        "Opt-in (integration set-up, not review): webhook endpoints, enabling, secret rotation.",
        "webhooks",
        default=False,
    ),
    Toolset(
        "documents",
        "Documents",
        "Opt-in: documents collected by inquiries, and generic documents.",
        "documents",
        default=False,
    ),
    Toolset(
        "transactions",
        "Transactions",
        "Opt-in: transactions (payments, sign-ups) screened by Persona: read, label, redact.",
        "transactions",
        default=False,
    ),
    Toolset(
        "logs",
        "Logs",
        "Opt-in (operations and audit staff): Persona's API logs and user audit logs.",
        "logs",
        default=False,
    ),
    Toolset(
        "importers",
        "Importers",
        "Opt-in (organisation set-up): bulk imports into lists from CSV.",
        "importers",
        default=False,
    ),
    Toolset(
        "workflows",
        "Workflows",
        "Opt-in (organisation set-up): workflows and their runs.",
        "workflows",
        default=False,
    ),
    Toolset(
        "templates",
        "Inquiry templates",
        "Opt-in (organisation set-up): inquiry templates, their versions and translations.",
        "templates",
        default=False,
    ),
    Toolset(
        "devices",
        "Devices",
        "Opt-in (fraud investigation): devices seen by Persona.",
        "devices",
        default=False,
    ),
    Toolset(
        "rate_limits",
        "Rate limits",
        "Opt-in (operations): the organisation's Persona API rate limits.",
        "rate_limits",
        default=False,
    ),
    Toolset(
        "simulation",
        "Sandbox simulation",
        "Opt-in (tests and demos): drive sandbox inquiries through steps and preset simulated input; "
        "Persona serves these only with a sandbox key.",
        "inquiries",
        default=False,
    ),
    Toolset(
        "audit",
        "Audit log (reviewers)",
        "Opt-in (security review, a role of its own): query and verify this server's audit log; "
        "needs audit:read, which no default grant holds.",
        "audit",
        default=False,
    ),
)

BY_ID: dict[str, Toolset] = {toolset.id: toolset for toolset in TOOLSETS}


def help_text() -> str:
    """`serve --toolsets`' help: the keywords, then every toolset with its default marked."""
    listed = ", ".join(f"{t.id}{'*' if t.default else ''}" for t in TOOLSETS)
    return (
        f"Comma-separated toolsets to offer ({ALL} = every one, {DEFAULT} = those marked *). "
        f"Default: the toolsets marked *. Toolsets: {listed}."
    )
