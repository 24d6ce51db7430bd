"""Persona object IDs, validated (prefix and charset) before any of them is put into a URL.

An ID is `<prefix>_<token>` where the token is ASCII letters and digits. Anything else (a slash, `..`,
whitespace, percent-encoding, the wrong prefix) is refused here, so a tool argument can never steer a
request to another path. The annotated types carry the same pattern into the tools' JSON schemas, and
the `OBJECT_ID` marker: ids are not personal data, so the audit log keeps and indexes them in clear.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field

from persona_mcp.pii import OBJECT_ID


class ObjectKind(StrEnum):
    """Kinds of Persona objects whose IDs tools accept."""

    ACCOUNT = "account"
    ACCOUNT_TYPE = "account-type"
    INQUIRY = "inquiry"
    INQUIRY_SESSION = "inquiry-session"
    INQUIRY_TEMPLATE = "inquiry-template"
    INQUIRY_TEMPLATE_VERSION = "inquiry-template-version"
    LIST = "list"
    LIST_ITEM = "list-item"
    WEBHOOK = "webhook"
    EVENT = "event"
    VERIFICATION = "verification"
    TRANSACTION = "transaction"
    ACCOUNT_ACTION = "account-action"


#: Accepted prefixes per kind. List items carry one prefix per item type (as in Persona's own examples).
PREFIXES: dict[ObjectKind, tuple[str, ...]] = {
    ObjectKind.ACCOUNT: ("act",),
    ObjectKind.ACCOUNT_TYPE: ("acttp",),
    ObjectKind.INQUIRY: ("inq",),
    ObjectKind.INQUIRY_SESSION: ("iqse",),
    ObjectKind.INQUIRY_TEMPLATE: ("itmpl",),
    ObjectKind.INQUIRY_TEMPLATE_VERSION: ("itmplv",),
    ObjectKind.LIST: ("lst",),
    ObjectKind.LIST_ITEM: (
        "libf",
        "lidf",
        "lic",
        "liea",
        "lif",
        "liif",
        "ligl",
        "ligin",
        "liip",
        "lin",
        "lipn",
        "lis",
    ),
    ObjectKind.WEBHOOK: ("wbh",),
    ObjectKind.EVENT: ("evt",),
    ObjectKind.VERIFICATION: ("ver",),
    ObjectKind.TRANSACTION: ("txn",),
    ObjectKind.ACCOUNT_ACTION: ("accac",),  # as Persona's OpenAPI document pins them
}

_TOKEN = r"[A-Za-z0-9]{1,64}"


def id_pattern(kind: ObjectKind) -> str:
    """The regular expression (anchored) an ID of this kind must match."""
    alternatives = "|".join(PREFIXES[kind])
    return rf"^(?:{alternatives})_{_TOKEN}$"


_COMPILED = {kind: re.compile(id_pattern(kind)) for kind in ObjectKind}
_ANY_KNOWN = re.compile(
    rf"^(?:{'|'.join(sorted({p for ps in PREFIXES.values() for p in ps}, key=len, reverse=True))})_{_TOKEN}$"
)


def is_object_id(value: str) -> bool:
    """Whether `value` is a well-formed id of any kind above (a known prefix, then letters and digits)."""
    return _ANY_KNOWN.fullmatch(value) is not None


class InvalidIdError(ValueError):
    """An ID that must not reach a URL. The message names the expected shape, never echoes the value."""


def validate_id(kind: ObjectKind, value: str) -> str:
    """Return `value` if it is a well-formed ID of `kind`, else raise `InvalidIdError`."""
    if not isinstance(value, str) or not _COMPILED[kind].fullmatch(value):
        expected = " or ".join(f"{p}_…" for p in PREFIXES[kind])
        raise InvalidIdError(
            f"not a valid {kind.value} id: expected {expected} followed by letters and digits"
        )
    return value


def _validator(kind: ObjectKind) -> AfterValidator:
    return AfterValidator(lambda value: validate_id(kind, value))


AccountId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.ACCOUNT)), _validator(ObjectKind.ACCOUNT), OBJECT_ID
]
AccountTypeId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.ACCOUNT_TYPE)), _validator(ObjectKind.ACCOUNT_TYPE), OBJECT_ID
]
InquiryId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.INQUIRY)), _validator(ObjectKind.INQUIRY), OBJECT_ID
]
InquirySessionId = Annotated[
    str,
    Field(pattern=id_pattern(ObjectKind.INQUIRY_SESSION)),
    _validator(ObjectKind.INQUIRY_SESSION),
    OBJECT_ID,
]
InquiryTemplateId = Annotated[
    str,
    Field(pattern=id_pattern(ObjectKind.INQUIRY_TEMPLATE)),
    _validator(ObjectKind.INQUIRY_TEMPLATE),
    OBJECT_ID,
]
ListId = Annotated[str, Field(pattern=id_pattern(ObjectKind.LIST)), _validator(ObjectKind.LIST), OBJECT_ID]
ListItemId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.LIST_ITEM)), _validator(ObjectKind.LIST_ITEM), OBJECT_ID
]
WebhookId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.WEBHOOK)), _validator(ObjectKind.WEBHOOK), OBJECT_ID
]
EventId = Annotated[str, Field(pattern=id_pattern(ObjectKind.EVENT)), _validator(ObjectKind.EVENT), OBJECT_ID]
VerificationId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.VERIFICATION)), _validator(ObjectKind.VERIFICATION), OBJECT_ID
]
AccountActionId = Annotated[
    str,
    Field(pattern=id_pattern(ObjectKind.ACCOUNT_ACTION)),
    _validator(ObjectKind.ACCOUNT_ACTION),
    OBJECT_ID,
]
TransactionId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.TRANSACTION)), _validator(ObjectKind.TRANSACTION), OBJECT_ID
]

__all__ = [
    "PREFIXES",
    "AccountActionId",
    "AccountId",
    "AccountTypeId",
    "EventId",
    "InquiryId",
    "InquirySessionId",
    "InquiryTemplateId",
    "InvalidIdError",
    "ListId",
    "ListItemId",
    "ObjectKind",
    "TransactionId",
    "VerificationId",
    "WebhookId",
    "id_pattern",
    "is_object_id",
    "validate_id",
]
