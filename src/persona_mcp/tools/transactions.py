"""Transactions: events of your business Persona screens (a payment, a sign-up), with fields and tags.

Covers the 12 `transactions.*` operations. Redaction (of everything, or of the biometric images only)
is irreversible and needs `transactions:delete`; a label (fraud or not) is a decision and needs
`transactions:decide`. Fields hold personal data and image links, so they are marked PII.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import ObjectKind, TransactionId, TransactionTypeId
from persona_mcp.pii import FIXED_PATTERN, PII
from persona_mcp.tools.bodies import attributes_body, pick
from persona_mcp.tools.describe import describe
from persona_mcp.tools.factories import Method, action_tool, get_tool, list_tool
from persona_mcp.tools.input_rules import AtLeastOne
from persona_mcp.tools.inputs import AnyObjectId, CustomFields, PageInput, ReferenceId, ToolInput
from persona_mcp.tools.results import Attr, ObjectView, Page, Rel, Response, plain_fields
from persona_mcp.tools.spec import Activity, Effect, ToolSpec
from persona_mcp.tools.tags import OneTag, TagSet, one_tag_body, tag_set_body

TOOLSET = "transactions"

# -- models ------------------------------------------------------------------------------------------------


class Transaction(ObjectView):
    """A transaction as listed."""

    status: str | None = Field(None, description="created, approved, declined, needs review, ...")
    reference_id: str | None = Field(None, description="Your id for it.")
    tags: list[str] = Field(default_factory=list, description="Tag names.")
    created_at: str | None = Field(None, description="ISO 8601.")


class TransactionResult(Transaction, Response):
    """One transaction with its fields and related objects."""

    transaction_type_id: Annotated[str | None, Rel("transaction-type")] = Field(None, description="txntp_...")
    label_id: Annotated[str | None, Rel("transaction-label")] = Field(None, description="Its label, if any.")
    related_ids: Annotated[list[str], Rel("related-objects")] = Field(
        default_factory=list, description="Related accounts, verifications, ..."
    )
    fields: Annotated[dict[str, Any] | None, PII, Attr("fields", plain_fields)] = Field(
        None, description="Fields, plain values (file fields hold image links)."
    )
    updated_at: str | None = Field(None, description="ISO 8601.")


class TransactionPage(Page):
    items: list[Transaction] = Field(description="Transactions, newest first.")


class TransactionRef(ToolInput):
    transaction_id: TransactionId = Field(description="The transaction.")


class ListTransactions(PageInput):
    reference_id: ReferenceId | None = Field(None, description="Only with this reference id.")
    transaction_type_id: TransactionTypeId | None = Field(None, description="Only of this type.")


class _Attributes(ToolInput):
    reference_id: ReferenceId | None = Field(None, description="Your id for it.")
    fields: Annotated[CustomFields | None, PII] = Field(None, description="Fields: key -> value.")
    tags: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = Field(
        None, max_length=100, description="Tag names (all of them)."
    )


class CreateTransaction(_Attributes):
    transaction_type_id: TransactionTypeId = Field(description="Transaction type (Persona dashboard).")


class UpdateTransaction(_Attributes):
    transaction_id: TransactionId = Field(description="The transaction.")
    status: Annotated[str | None, FIXED_PATTERN] = Field(
        None, pattern=r"^[a-z][a-z _]{0,39}$", description="New status, e.g. approved."
    )

    rules = (AtLeastOne(("reference_id", "fields", "tags", "status"), "give at least one thing to change"),)


class LabelTransaction(ToolInput):
    transaction_id: TransactionId = Field(description="The transaction.")
    label: Annotated[str, FIXED_PATTERN] = Field(
        pattern=r"^[a-z][a-z0-9_ -]{0,63}$", description="Label, e.g. fraud or not_fraud."
    )
    score: float | None = Field(None, ge=0, le=1, description="Model score, 0-1.")
    model_version: Annotated[str | None, FIXED_PATTERN] = Field(
        None, pattern=r"^[A-Za-z0-9._-]{1,64}$", description="Model version."
    )


class TransactionTag(OneTag):
    transaction_id: TransactionId = Field(description="The transaction.")


class TransactionTags(TagSet):
    transaction_id: TransactionId = Field(description="The transaction.")


class TransactionRelation(ToolInput):
    transaction_id: TransactionId = Field(description="The transaction.")
    relation_schema_key: Annotated[str, FIXED_PATTERN] = Field(
        pattern=r"^[a-z0-9_-]{1,64}$", description="Relation key, e.g. made-by."
    )
    target_object_id: AnyObjectId = Field(description="Related object (act_/txn_).")


# -- bodies and filters --------------------------------------------------------------------------------------

_ATTRIBUTES = ("reference_id", "fields", "tags")


def _create_body(args: CreateTransaction) -> dict[str, Any]:
    return attributes_body(pick(args, (*_ATTRIBUTES, "transaction_type_id")))


def _update_body(args: UpdateTransaction) -> dict[str, Any]:
    return attributes_body(pick(args, (*_ATTRIBUTES, "status")))


def _label_body(args: LabelTransaction) -> dict[str, Any]:
    return {"meta": pick(args, ("label", "score", "model_version"))}


def _relation_body(args: TransactionRelation) -> dict[str, Any]:
    return {"meta": pick(args, ("relation_schema_key", "target_object_id"))}


def _filters(args: ListTransactions) -> dict[str, str]:
    params = {
        "filter[reference-id]": args.reference_id,
        "filter[transaction-type-id]": args.transaction_type_id,
    }
    return {key: value for key, value in params.items() if value is not None}


# -- specs ---------------------------------------------------------------------------------------------------

_ONE = "/transactions/{transaction_id}"
_IDS = "list_transactions."


def _action(
    name: str,
    title: str,
    summary: str,
    use_when: str,
    operation: str,
    input_model: type[ToolInput],
    path: str,
    *,
    scope: Scope = Scope.TRANSACTIONS_WRITE,
    effect: Effect = Effect.WRITE,
    body: Any = None,
    method: Method = Method.POST,
    idempotent: bool = True,
    avoid: str | None = None,
    activity: Activity | None = None,
) -> ToolSpec[Any, Any]:
    """One transaction action: what the family shares is written here once."""
    return action_tool(
        name=name,
        toolset=TOOLSET,
        title=title,
        description=describe(summary, use_when=use_when, ids=_IDS, avoid=avoid),
        scope=scope,
        effect=effect,
        operation=operation,
        input_model=input_model,
        result=TransactionResult,
        method=method,
        path=path,
        body=body,
        idempotent=idempotent,
        activity=activity,
        conflict_hint="a redacted transaction no longer changes; see get_transaction",
    )


list_transactions = list_tool(
    name="list_transactions",
    toolset=TOOLSET,
    title="List transactions",
    description=describe("List transactions, newest first.", use_when="you need a transaction id."),
    scope=Scope.TRANSACTIONS_READ,
    operation="transactions.list",
    input_model=ListTransactions,
    page=TransactionPage,
    view=Transaction,
    path="/transactions",
    finds=ObjectKind.TRANSACTION,
    filters=_filters,
)

get_transaction = get_tool(
    name="get_transaction",
    toolset=TOOLSET,
    title="Get a transaction",
    description=describe("Read one transaction with its fields.", use_when="reviewing it.", ids=_IDS),
    scope=Scope.TRANSACTIONS_READ,
    operation="transactions.retrieve",
    input_model=TransactionRef,
    result=TransactionResult,
    path=_ONE,
)

create_transaction = action_tool(
    name="create_transaction",
    toolset=TOOLSET,
    title="Create a transaction",
    description=describe(
        "Create a transaction of a type, with its fields.",
        use_when="an event of your business must be screened.",
        ids="transaction types: Persona dashboard.",
    ),
    scope=Scope.TRANSACTIONS_WRITE,
    effect=Effect.WRITE,
    activity=Activity.CREATE,
    operation="transactions.create",
    input_model=CreateTransaction,
    result=TransactionResult,
    method=Method.POST,
    path="/transactions",
    body=_create_body,
)

update_transaction = _action(
    "update_transaction",
    "Update a transaction",
    "Change a transaction's status, fields, reference id or tags.",
    "a transaction's details must change.",
    "transactions.update",
    UpdateTransaction,
    _ONE,
    body=_update_body,
    method=Method.PATCH,
)

redact_transaction = _action(
    "redact_transaction",
    "Redact a transaction (irreversible)",
    "Erase a transaction's personal data, for good.",
    "a confirmed erasure request asks for it.",
    "transactions.redact",
    TransactionRef,
    _ONE,
    scope=Scope.TRANSACTIONS_DELETE,
    effect=Effect.DESTRUCTIVE,
    method=Method.DELETE,
    activity=Activity.DELETE,
    avoid="for the images only: redact_transaction_biometrics.",
)

redact_transaction_biometrics = _action(
    "redact_transaction_biometrics",
    "Redact a transaction's biometrics (irreversible)",
    "Erase a transaction's biometric images (selfies, id photos), for good.",
    "biometric data must go but the record stays.",
    "transactions.redact_biometrics",
    TransactionRef,
    _ONE + "/redact-biometrics",
    scope=Scope.TRANSACTIONS_DELETE,
    effect=Effect.DESTRUCTIVE,
)

label_transaction = _action(
    "label_transaction",
    "Label a transaction",
    "Label a transaction, e.g. fraud or not_fraud (a decision).",
    "a review concluded.",
    "transactions.create_label",
    LabelTransaction,
    _ONE + "/label",
    scope=Scope.TRANSACTIONS_DECIDE,
    body=_label_body,
    idempotent=False,
)

add_transaction_tag = _action(
    "add_transaction_tag",
    "Add a tag to a transaction",
    "Add one tag (by name or id) to a transaction.",
    "labelling a transaction for a workflow.",
    "transactions.add_tag",
    TransactionTag,
    _ONE + "/add-tag",
    body=one_tag_body,
)

remove_transaction_tag = _action(
    "remove_transaction_tag",
    "Remove a tag from a transaction",
    "Remove one tag (by name or id) from a transaction.",
    "a tag no longer applies.",
    "transactions.remove_tag",
    TransactionTag,
    _ONE + "/remove-tag",
    body=one_tag_body,
)

set_transaction_tags = _action(
    "set_transaction_tags",
    "Replace a transaction's tags",
    "Replace all tags of a transaction.",
    "you know the full set of tags.",
    "transactions.set_tags",
    TransactionTags,
    _ONE + "/set-tags",
    body=tag_set_body,
)

add_transaction_relation = _action(
    "add_transaction_relation",
    "Relate a transaction to an object",
    "Relate a transaction to an account or another transaction.",
    "recording who made it or what it concerns.",
    "transactions.add_relation",
    TransactionRelation,
    _ONE + "/add-relation",
    body=_relation_body,
)

remove_transaction_relation = _action(
    "remove_transaction_relation",
    "Remove a transaction relation",
    "Remove a relation of a transaction.",
    "a relation was recorded in error.",
    "transactions.remove_relation",
    TransactionRelation,
    _ONE + "/remove-relation",
    body=_relation_body,
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = (
    list_transactions,
    get_transaction,
    create_transaction,
    update_transaction,
    redact_transaction,
    redact_transaction_biometrics,
    label_transaction,
    add_transaction_tag,
    remove_transaction_tag,
    set_transaction_tags,
    add_transaction_relation,
    remove_transaction_relation,
)
