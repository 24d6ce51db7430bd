"""Accounts: Persona's record of one of your users, with tags, relations and custom fields.

Covers the 14 tier-1 `accounts.*` operations. Redaction and consolidation are irreversible and need
`accounts:delete`; every other change needs `accounts:write`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import AccountActionId, AccountId, AccountTypeId, ObjectKind
from persona_mcp.pii import FIXED_PATTERN, PII
from persona_mcp.tools.bodies import attributes_body, pick
from persona_mcp.tools.describe import describe
from persona_mcp.tools.factories import Method, action_tool, get_tool, list_tool
from persona_mcp.tools.input_rules import AtLeastOne
from persona_mcp.tools.inputs import (
    AnyObjectId,
    CountryCode,
    CustomFields,
    Email,
    PageInput,
    Phone,
    ReferenceId,
    Timestamp,
    ToolInput,
    iso,
)
from persona_mcp.tools.results import Attr, ObjectView, Page, Rel, Response, plain_fields
from persona_mcp.tools.search import SearchInput, search_tool
from persona_mcp.tools.spec import Activity, Effect, ToolSpec
from persona_mcp.tools.tags import OneTag, TagSet, one_tag_body, tag_set_body

TOOLSET = "accounts"

# -- models ------------------------------------------------------------------------------------------------


class Account(ObjectView):
    """An account as listed: enough to pick one, then read it with get_account."""

    reference_id: str | None = Field(None, description="Your id for the user.")
    account_type_id: Annotated[str | None, Rel("account-type")] = Field(None, description="acttp_...")
    tags: list[str] = Field(default_factory=list, description="Tag names.")
    created_at: str | None = Field(None, description="ISO 8601.")


class AccountDetail(Account):
    """An account with its personal fields."""

    account_type_name: str | None = Field(None, description="Account type, e.g. `User`.")
    fields: Annotated[dict[str, Any] | None, PII, Attr("fields", plain_fields)] = Field(
        None, description="Personal and custom fields, plain values."
    )
    updated_at: str | None = Field(None, description="ISO 8601.")
    redacted_at: str | None = Field(None, description="Set once redacted.")


class AccountResult(AccountDetail, Response):
    """One account."""


class AccountChanged(ObjectView, Response):
    """The account after the change (read it with get_account for every detail)."""

    tags: list[str] = Field(default_factory=list, description="Tag names.")


class AccountPage(Page):
    items: list[Account] = Field(description="Accounts on this page, newest first.")


class RelatedObject(ObjectView):
    """An object related to an account (another account or a transaction)."""

    created_at: str | None = Field(None, description="ISO 8601.")
    reference_id: str | None = Field(None, description="Your id for the object.")


class RelationPage(Page):
    items: list[RelatedObject] = Field(description="Objects related to the account.")


class AccountRef(ToolInput):
    account_id: AccountId = Field(description="The account.")


class ListAccounts(PageInput):
    reference_id: ReferenceId | None = Field(None, description="Only accounts with this reference id.")


class SearchAccounts(SearchInput):
    """Search accounts by attribute predicates."""


class _AccountAttributes(ToolInput):
    """Attributes shared by create and update; each is sent only when given."""

    reference_id: ReferenceId | None = Field(None, description="Your id for the user (not PII).")
    account_status: str | None = Field(None, max_length=100, description="Account status name.")
    tags: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = Field(
        None, max_length=100, description="Tag names."
    )
    country_code: CountryCode | None = Field(None, description="ISO 3166-1 alpha-2 country.")
    name_first: Annotated[str | None, PII] = Field(None, description="First name.")
    name_middle: Annotated[str | None, PII] = Field(None, description="Middle name.")
    name_last: Annotated[str | None, PII] = Field(None, description="Last name.")
    birthdate: Annotated[date | None, PII] = Field(None, description="Date of birth.")
    email_address: Annotated[Email | None, PII] = Field(None, description="E-mail address.")
    phone_number: Annotated[Phone | None, PII] = Field(None, description="Phone number.")
    address_street_1: Annotated[str | None, PII] = Field(None, description="Street line 1.")
    address_street_2: Annotated[str | None, PII] = Field(None, description="Street line 2.")
    address_city: Annotated[str | None, PII] = Field(None, description="City.")
    address_subdivision: Annotated[str | None, PII] = Field(None, description="State or province.")
    address_postal_code: Annotated[str | None, PII] = Field(None, max_length=32, description="Postal code.")
    fields: Annotated[CustomFields | None, PII] = Field(None, description="Custom fields: key -> value.")


_ATTRIBUTE_NAMES = tuple(_AccountAttributes.model_fields)


class CreateAccount(_AccountAttributes):
    account_type_id: AccountTypeId | None = Field(None, description="Account type; default type if omitted.")


class UpdateAccount(_AccountAttributes):
    account_id: AccountId = Field(description="The account.")

    rules = (AtLeastOne(_ATTRIBUTE_NAMES, "give at least one attribute to change"),)


class AccountTag(OneTag):
    account_id: AccountId = Field(description="The account.")


class AccountTags(TagSet):
    account_id: AccountId = Field(description="The account.")


class ConsolidateAccounts(ToolInput):
    account_id: AccountId = Field(description="Destination account.")
    source_account_ids: list[AccountId] = Field(
        min_length=1, max_length=100, description="Accounts merged in and archived."
    )


class ListRelations(ToolInput):
    account_id: AccountId = Field(description="The account.")
    key: Annotated[str | None, FIXED_PATTERN] = Field(
        None, pattern=r"^[a-z0-9_-]{1,64}$", description="Only this relation key."
    )
    created_after: Timestamp | None = Field(None, description="Created at or after.")
    created_before: Timestamp | None = Field(None, description="Created at or before.")


class AccountRelation(ToolInput):
    account_id: AccountId = Field(description="The account.")
    relation_schema_key: Annotated[str, FIXED_PATTERN] = Field(
        pattern=r"^[a-z0-9_-]{1,64}$", description="Relation key, e.g. parent-of."
    )
    target_object_id: AnyObjectId = Field(description="Related object (act_/txn_).")


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


def _relation_body(args: AccountRelation) -> dict[str, Any]:
    return {"meta": pick(args, ("relation_schema_key", "target_object_id"))}


def _run_action_body(args: RunAccountAction) -> dict[str, Any]:
    data: dict[str, Any] = {"account-action-id": args.account_action_id}
    if args.parameters is not None:
        data["parameters"] = args.parameters
    return {"data": data}


def _list_filters(args: ListAccounts) -> dict[str, str]:
    return {"filter[reference-id]": args.reference_id} if args.reference_id else {}


def _relation_filters(args: ListRelations) -> dict[str, str]:
    names = {"key": "filter[key]", "created_after": "filter[created-at-start]"}
    names["created_before"] = "filter[created-at-end]"
    params = {param: getattr(args, name) for name, param in names.items() if getattr(args, name) is not None}
    return {param: iso(value) if isinstance(value, datetime) else value for param, value in params.items()}


# -- specs ---------------------------------------------------------------------------------------------------

_ONE = "/accounts/{account_id}"
_IDS = "list_accounts."

list_accounts = list_tool(
    name="list_accounts",
    toolset=TOOLSET,
    title="List accounts",
    description=describe(
        "List accounts, newest first.",
        use_when="browsing accounts or finding one by reference id.",
        avoid="to match fields or dates: use search_accounts.",
    ),
    scope=Scope.ACCOUNTS_READ,
    operation="accounts.list",
    input_model=ListAccounts,
    page=AccountPage,
    view=Account,
    path="/accounts",
    finds=ObjectKind.ACCOUNT,
    filters=_list_filters,
)

search_accounts = search_tool(
    name="search_accounts",
    toolset=TOOLSET,
    title="Search accounts",
    description=describe(
        "Search accounts by conditions on attributes (snake_case).",
        use_when="list_accounts' filter is not enough.",
        avoid="for changes of the last minute: the index lags.",
    ),
    scope=Scope.ACCOUNTS_READ,
    input_model=SearchAccounts,
    operation="accounts.search",
    page=AccountPage,
    view=Account,
    path="/accounts/search",
    finds=ObjectKind.ACCOUNT,
)

get_account = get_tool(
    name="get_account",
    toolset=TOOLSET,
    title="Get an account",
    description=describe(
        "Read one account with its personal fields.",
        use_when="you need an account's details.",
        ids=_IDS,
    ),
    scope=Scope.ACCOUNTS_READ,
    operation="accounts.retrieve",
    input_model=AccountRef,
    result=AccountResult,
    path=_ONE,
)

create_account = action_tool(
    name="create_account",
    toolset=TOOLSET,
    title="Create an account",
    description=describe(
        "Create an account for one of your users.",
        use_when="the user has none yet (check list_accounts by reference_id).",
        ids="account types: Persona dashboard.",
        avoid="to change one: use update_account.",
    ),
    scope=Scope.ACCOUNTS_WRITE,
    effect=Effect.WRITE,
    activity=Activity.CREATE,
    operation="accounts.create",
    input_model=CreateAccount,
    result=AccountChanged,
    method=Method.POST,
    path="/accounts",
    body=_create_body,
    conflict_hint="an account with this reference_id probably exists already; find it with "
    "list_accounts (reference_id) and use update_account instead",
)

update_account = action_tool(
    name="update_account",
    toolset=TOOLSET,
    title="Update an account",
    description=describe(
        "Change an account; only the arguments given are sent.",
        use_when="an account's details must change.",
        ids=_IDS,
        avoid="for single tags: use add_account_tag.",
    ),
    scope=Scope.ACCOUNTS_WRITE,
    effect=Effect.WRITE,
    operation="accounts.update",
    input_model=UpdateAccount,
    result=AccountChanged,
    method=Method.PATCH,
    path=_ONE,
    body=_update_body,
    idempotent=True,
)

redact_account = action_tool(
    name="redact_account",
    toolset=TOOLSET,
    title="Redact an account (irreversible)",
    description=describe(
        "Erase the personal data of an account and all its inquiries, for good.",
        use_when="a confirmed erasure request (GDPR/CCPA) asks for it.",
        ids=_IDS,
        avoid="to deactivate an account: it cannot be undone.",
    ),
    scope=Scope.ACCOUNTS_DELETE,
    effect=Effect.DESTRUCTIVE,
    activity=Activity.DELETE,
    operation="accounts.redact",
    input_model=AccountRef,
    result=AccountChanged,
    method=Method.DELETE,
    path=_ONE,
    idempotent=True,
)

add_account_tag = action_tool(
    name="add_account_tag",
    toolset=TOOLSET,
    title="Add a tag to an account",
    description=describe(
        "Add one tag (by name or id) to an account.",
        use_when="labelling an account.",
        ids=_IDS,
        avoid="to replace all tags: use set_account_tags.",
    ),
    scope=Scope.ACCOUNTS_WRITE,
    effect=Effect.WRITE,
    operation="accounts.add_tag",
    input_model=AccountTag,
    result=AccountChanged,
    method=Method.POST,
    path=_ONE + "/add-tag",
    body=one_tag_body,
    idempotent=True,
)

remove_account_tag = action_tool(
    name="remove_account_tag",
    toolset=TOOLSET,
    title="Remove a tag from an account",
    description=describe(
        "Remove one tag (by name or id) from an account.",
        use_when="a label no longer applies.",
        ids=_IDS,
        avoid="to clear all tags: use set_account_tags.",
    ),
    scope=Scope.ACCOUNTS_WRITE,
    effect=Effect.WRITE,
    operation="accounts.remove_tag",
    input_model=AccountTag,
    result=AccountChanged,
    method=Method.POST,
    path=_ONE + "/remove-tag",
    body=one_tag_body,
    idempotent=True,
)

set_account_tags = action_tool(
    name="set_account_tags",
    toolset=TOOLSET,
    title="Replace an account's tags",
    description=describe(
        "Replace all tags of an account.",
        use_when="you know the full set of tags.",
        ids=_IDS,
        avoid="for one tag: unlisted tags are removed.",
    ),
    scope=Scope.ACCOUNTS_WRITE,
    effect=Effect.WRITE,
    operation="accounts.set_tags",
    input_model=AccountTags,
    result=AccountChanged,
    method=Method.POST,
    path=_ONE + "/set-tags",
    body=tag_set_body,
    idempotent=True,
)

consolidate_accounts = action_tool(
    name="consolidate_accounts",
    toolset=TOOLSET,
    title="Merge accounts into one (irreversible)",
    description=describe(
        "Merge source accounts into a destination account; sources are archived.",
        use_when="duplicates of one person were confirmed.",
        ids=_IDS,
        avoid="to copy attributes: it moves objects only, irreversibly.",
    ),
    scope=Scope.ACCOUNTS_DELETE,
    effect=Effect.DESTRUCTIVE,
    operation="accounts.consolidate",
    input_model=ConsolidateAccounts,
    result=AccountChanged,
    method=Method.POST,
    path=_ONE + "/consolidate",
    body=_consolidate_body,
    conflict_hint="a source account can be consolidated only once, and not into itself",
)

list_account_relations = list_tool(
    name="list_account_relations",
    toolset=TOOLSET,
    title="List an account's relations",
    description=describe(
        "List objects related to an account (e.g. parent-of).",
        use_when="you need an account's links.",
        ids=_IDS,
        avoid="to find accounts: use search_accounts.",
    ),
    scope=Scope.ACCOUNTS_READ,
    operation="accounts.list_relations",
    input_model=ListRelations,
    page=RelationPage,
    view=RelatedObject,
    path=_ONE + "/relations",
    filters=_relation_filters,
)

add_account_relation = action_tool(
    name="add_account_relation",
    toolset=TOOLSET,
    title="Relate an account to another object",
    description=describe(
        "Relate an account to another account or a transaction.",
        use_when="recording a relation such as parent-of.",
        ids=_IDS,
        avoid="to merge duplicates: use consolidate_accounts.",
    ),
    scope=Scope.ACCOUNTS_WRITE,
    effect=Effect.WRITE,
    operation="accounts.add_relation",
    input_model=AccountRelation,
    result=AccountChanged,
    method=Method.POST,
    path=_ONE + "/add-relation",
    body=_relation_body,
    idempotent=True,
)

remove_account_relation = action_tool(
    name="remove_account_relation",
    toolset=TOOLSET,
    title="Remove an account relation",
    description=describe(
        "Remove a relation between an account and another object.",
        use_when="a relation is wrong or has ended.",
        ids="list_account_relations.",
    ),
    scope=Scope.ACCOUNTS_WRITE,
    effect=Effect.WRITE,
    operation="accounts.remove_relation",
    input_model=AccountRelation,
    result=AccountChanged,
    method=Method.POST,
    path=_ONE + "/remove-relation",
    body=_relation_body,
    idempotent=True,
)

run_account_action = action_tool(
    name="run_account_action",
    toolset=TOOLSET,
    title="Run an account action",
    description=describe(
        "Run a configured account action on one account.",
        use_when="an action exists for the change you need.",
        ids=_IDS + " Actions: Persona dashboard.",
        avoid="for what update_account can do.",
    ),
    scope=Scope.ACCOUNTS_WRITE,
    effect=Effect.WRITE,
    operation="accounts.run_action",
    input_model=RunAccountAction,
    result=AccountChanged,
    method=Method.POST,
    path=_ONE + "/run-action",
    body=_run_action_body,
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = (
    list_accounts,
    search_accounts,
    get_account,
    create_account,
    update_account,
    redact_account,
    add_account_tag,
    remove_account_tag,
    set_account_tags,
    consolidate_accounts,
    list_account_relations,
    add_account_relation,
    remove_account_relation,
    run_account_action,
)
