"""Transactions: events of your business Persona screens (a payment, a sign-up), with fields and tags.

Covers the 12 `transactions.*` operations. Redaction (of everything, or of the biometric images only)
is irreversible and needs `transactions:delete`; a label (fraud or not) is a decision and needs
`transactions:decide`. Fields hold personal data and image links, so they are marked PII.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from persona_mcp.persona.ids import ObjectKind, TransactionId, TransactionTypeId
from persona_mcp.pii import FIXED_PATTERN, PII
from persona_mcp.tools.bodies import attributes_body, pick
from persona_mcp.tools.family import Family
from persona_mcp.tools.input_rules import AtLeastOne
from persona_mcp.tools.inputs import CustomFields, PageInput, ReferenceId, ToolInput
from persona_mcp.tools.results import Attr, Instant, ObjectView, Rel, Response, plain_fields
from persona_mcp.tools.spec import Effect, ToolSpec

# -- models ------------------------------------------------------------------------------------------------


class Transaction(ObjectView):
    """A transaction as listed."""

    status: str | None = Field(None, description="created, approved, declined, needs review, ...")
    reference_id: str | None = Field(None, description="Your id for it.")
    tags: list[str] = Field(default_factory=list, description="Tag names.")
    created_at: Instant = None


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
    updated_at: Instant = None


class ListTransactions(PageInput):
    query_filters = {
        "reference_id": "filter[reference-id]",
        "transaction_type_id": "filter[transaction-type-id]",
    }

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


# -- bodies and filters --------------------------------------------------------------------------------------

_ATTRIBUTES = ("reference_id", "fields", "tags")


def _create_body(args: CreateTransaction) -> dict[str, Any]:
    return attributes_body(pick(args, (*_ATTRIBUTES, "transaction_type_id")))


def _update_body(args: UpdateTransaction) -> dict[str, Any]:
    return attributes_body(pick(args, (*_ATTRIBUTES, "status")))


def _label_body(args: LabelTransaction) -> dict[str, Any]:
    return {"meta": pick(args, ("label", "score", "model_version"))}


# -- specs ---------------------------------------------------------------------------------------------------

TRANSACTIONS = Family(
    toolset="transactions",
    kind=ObjectKind.TRANSACTION,
    changed=TransactionResult,
    conflict_hint="a redacted transaction no longer changes; see get_transaction",
)

list_transactions = TRANSACTIONS.list(
    """List transactions, newest first.
    Use this when you need a transaction id.""",
    input_model=ListTransactions,
    view=Transaction,
)

get_transaction = TRANSACTIONS.get(
    "Read one transaction with its fields.\nUse this when reviewing it.",
    result=TransactionResult,
)

create_transaction = TRANSACTIONS.create(
    """Create a transaction of a type, with its fields.
    Use this when an event of your business must be screened.
    IDs: transaction types: Persona dashboard.""",
    input_model=CreateTransaction,
    body=_create_body,
)

update_transaction = TRANSACTIONS.update(
    """Change a transaction's status, fields, reference id or tags.
    Use this when a transaction's details must change.""",
    input_model=UpdateTransaction,
    body=_update_body,
)

redact_transaction = TRANSACTIONS.redact(
    """Erase a transaction's personal data, for good.
    Use this when a confirmed erasure request asks for it.
    Do not use it for the images only: redact_transaction_biometrics."""
)

redact_transaction_biometrics = TRANSACTIONS.delete(
    "redact_transaction_biometrics",
    "Redact a transaction's biometrics (irreversible)",
    """Erase a transaction's biometric images (selfies, id photos), for good.
    Use this when biometric data must go but the record stays.""",
    at="POST /redact-biometrics",
    idempotent=True,
)

label_transaction = TRANSACTIONS.decide(
    "label_transaction",
    "Label a transaction",
    """Label a transaction, e.g. fraud or not_fraud (a decision).
    Use this when a review concluded.""",
    effect=Effect.WRITE,
    input_model=LabelTransaction,
    at="POST /label",
    op="create_label",
    body=_label_body,
)

add_transaction_tag, remove_transaction_tag, set_transaction_tags = TRANSACTIONS.tag_tools()

add_transaction_relation, remove_transaction_relation = TRANSACTIONS.relation_tools(
    "made-by",
    add="""Relate a transaction to an account or another transaction.
    Use this when recording who made it or what it concerns.""",
    remove="""Remove a relation of a transaction.
    Use this when a relation was recorded in error.""",
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = TRANSACTIONS.declared()
