"""Accounts: Persona's record of one of your users, with tags, relations and custom fields.

Covers the 14 tier-1 `accounts.*` operations. Redaction and consolidation are irreversible and need
`accounts:delete`; every other change needs `accounts:write`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from persona_mcp.persona.ids import AccountActionId, AccountId, AccountTypeId, ObjectKind
from persona_mcp.pii import FIXED_PATTERN, PII
from persona_mcp.tools.bodies import attributes_body, pick
from persona_mcp.tools.family import Family
from persona_mcp.tools.input_rules import AtLeastOne
from persona_mcp.tools.inputs import (
    CountryCode,
    CustomFields,
    PageInput,
    ReferenceId,
    Timestamp,
    ToolInput,
)
from persona_mcp.tools.person import PersonFields
from persona_mcp.tools.results import Attr, Instant, ObjectView, Rel, Response, plain_fields
from persona_mcp.tools.search import SearchInput
from persona_mcp.tools.spec import ToolSpec

# -- models ------------------------------------------------------------------------------------------------


class Account(ObjectView):
    """An account as listed: enough to pick one, then read it with get_account."""

    reference_id: str | None = Field(None, description="Your id for the user.")
    account_type_id: Annotated[str | None, Rel("account-type")] = Field(None, description="acttp_...")
    tags: list[str] = Field(default_factory=list, description="Tag names.")
    created_at: Instant = None


class AccountDetail(Account):
    """An account with its personal fields."""

    account_type_name: str | None = Field(None, description="Account type, e.g. `User`.")
    fields: Annotated[dict[str, Any] | None, PII, Attr("fields", plain_fields)] = Field(
        None, description="Personal and custom fields, plain values."
    )
    updated_at: Instant = None
    redacted_at: str | None = Field(None, description="Set once redacted.")


class AccountResult(AccountDetail, Response):
    """One account."""


class AccountChanged(ObjectView, Response):
    """The account after the change (read it with get_account for every detail)."""

    tags: list[str] = Field(default_factory=list, description="Tag names.")


class ListAccounts(PageInput):
    query_filters = {"reference_id": "filter[reference-id]"}

    reference_id: ReferenceId | None = Field(None, description="Only accounts with this reference id.")


class SearchAccounts(SearchInput):
    """Search accounts by attribute predicates."""


class _AccountAttributes(PersonFields):
    """Attributes shared by create and update; each is sent only when given."""

    reference_id: ReferenceId | None = Field(None, description="Your id for the user (not PII).")
    account_status: str | None = Field(None, max_length=100, description="Account status name.")
    tags: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = Field(
        None, max_length=100, description="Tag names."
    )
    country_code: CountryCode | None = Field(None, description="ISO 3166-1 alpha-2 country.")
    fields: Annotated[CustomFields | None, PII] = Field(None, description="Custom fields: key -> value.")


_ATTRIBUTE_NAMES = tuple(_AccountAttributes.model_fields)


class CreateAccount(_AccountAttributes):
    account_type_id: AccountTypeId | None = Field(None, description="Account type; default type if omitted.")


class UpdateAccount(_AccountAttributes):
    account_id: AccountId = Field(description="The account.")

    rules = (AtLeastOne(_ATTRIBUTE_NAMES, "give at least one attribute to change"),)


class ConsolidateAccounts(ToolInput):
    account_id: AccountId = Field(description="Destination account.")
    source_account_ids: list[AccountId] = Field(
        min_length=1, max_length=100, description="Accounts merged in and archived."
    )


class ListRelations(ToolInput):
    query_filters = {
        "key": "filter[key]",
        "created_after": "filter[created-at-start]",
        "created_before": "filter[created-at-end]",
    }

    account_id: AccountId = Field(description="The account.")
    key: Annotated[str | None, FIXED_PATTERN] = Field(
        None, pattern=r"^[a-z0-9_-]{1,64}$", description="Only this relation key."
    )
    created_after: Timestamp | None = Field(None, description="Created at or after.")
    created_before: Timestamp | None = Field(None, description="Created at or before.")


class RelatedObject(ObjectView):
    """An object related to an account (another account or a transaction)."""

    created_at: Instant = None
    reference_id: str | None = Field(None, description="Your id for the object.")


class RunAccountAction(ToolInput):
    account_id: AccountId = Field(description="The account.")
    account_action_id: AccountActionId = Field(description="The account action.")
    parameters: Annotated[CustomFields | None, PII] = Field(None, description="Action inputs: key -> value.")


# -- bodies and filters --------------------------------------------------------------------------------------


def _create_body(args: CreateAccount) -> dict[str, Any]:
    return attributes_body(pick(args, (*_ATTRIBUTE_NAMES, "account_type_id")))


def _update_body(args: UpdateAccount) -> dict[str, Any]:
    return attributes_body(pick(args, _ATTRIBUTE_NAMES))


def _consolidate_body(args: ConsolidateAccounts) -> dict[str, Any]:
    return {"meta": {"source-account-ids": list(args.source_account_ids)}}


def _run_action_body(args: RunAccountAction) -> dict[str, Any]:
    data: dict[str, Any] = {"account-action-id": args.account_action_id}
    if args.parameters is not None:
        data["parameters"] = args.parameters
    return {"data": data}


# -- specs ---------------------------------------------------------------------------------------------------

ACCOUNTS = Family(toolset="accounts", kind=ObjectKind.ACCOUNT, changed=AccountChanged)

list_accounts = ACCOUNTS.list(
    """List accounts, newest first.
    Use this when browsing accounts or finding one by reference id.
    Do not use it to match fields or dates: use search_accounts.""",
    input_model=ListAccounts,
    view=Account,
)

search_accounts = ACCOUNTS.search(input_model=SearchAccounts, view=Account)

get_account = ACCOUNTS.get(
    "Read one account with its personal fields.\nUse this when you need an account's details.",
    result=AccountResult,
)

create_account = ACCOUNTS.create(
    """Create an account for one of your users.
    Use this when the user has none yet (see list_accounts).
    IDs: account types: Persona dashboard.
    Do not use it to change one: use update_account.""",
    input_model=CreateAccount,
    body=_create_body,
    conflict_hint="an account with this reference_id probably exists already; find it with "
    "list_accounts (reference_id) and use update_account instead",
)

update_account = ACCOUNTS.update(
    """Change an account; only the arguments given are sent.
    Use this when an account's details must change.
    Do not use it for single tags: use add_account_tag.""",
    input_model=UpdateAccount,
    body=_update_body,
)

redact_account = ACCOUNTS.redact(
    """Erase the personal data of an account and all its inquiries, for good.
    Use this when an erasure request (GDPR/CCPA) is confirmed.
    Do not use it to deactivate an account: it cannot be undone."""
)

add_account_tag, remove_account_tag, set_account_tags = ACCOUNTS.tag_tools()

consolidate_accounts = ACCOUNTS.delete(
    "consolidate_accounts",
    "Merge accounts into one (irreversible)",
    """Merge source accounts into a destination account; sources are archived.
    Use this when duplicates of one person were confirmed.
    Do not use it to copy attributes: it is irreversible.""",
    input_model=ConsolidateAccounts,
    at="POST /consolidate",
    body=_consolidate_body,
    conflict_hint="a source account can be consolidated only once, and not into itself",
)

list_account_relations = ACCOUNTS.list(
    """List objects related to an account (e.g. parent-of).
    Use this when you need an account's links.
    Do not use it to find accounts: use search_accounts.""",
    input_model=ListRelations,
    view=RelatedObject,
    of=("list_account_relations", "List an account's relations", "/relations"),
)

add_account_relation, remove_account_relation = ACCOUNTS.relation_tools(
    "parent-of",
    add="""Relate an account to another account or a transaction.
    Use this when recording a relation such as parent-of.
    Do not use it to merge duplicates: use consolidate_accounts.""",
    remove="""Remove a relation between an account and another object.
    Use this when a relation is wrong or has ended.
    IDs: list_account_relations.""",
)

run_account_action = ACCOUNTS.write(
    "run_account_action",
    "Run an account action",
    """Run a configured account action on one account.
    Use this when an action fits the change.
    IDs: list_accounts. Actions: Persona dashboard.
    Do not use it for what update_account can do.""",
    input_model=RunAccountAction,
    at="POST /run-action",
    body=_run_action_body,
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = ACCOUNTS.declared()
