"""Persona object IDs, validated (prefix and charset) before any of them is put into a URL.

An ID is `<prefix>_<token>` where the token is ASCII letters and digits. Anything else (a slash, `..`,
whitespace, percent-encoding, the wrong prefix) is refused here, so a tool argument can never steer a
request to another path. The annotated types carry the same pattern into the tools' JSON schemas, and
the `OBJECT_ID` marker: ids are not personal data, so the audit log keeps and indexes them in clear.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

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
    REPORT = "report"
    REPORT_TEMPLATE = "report-template"
    CASE = "case"
    CASE_TEMPLATE = "case-template"
    CASE_QUEUE = "case-queue"
    DOCUMENT = "document"
    TRANSACTION_TYPE = "transaction-type"
    API_LOG = "api-log"
    USER_AUDIT_LOG = "user-audit-log"
    IMPORTER = "importer"
    WORKFLOW = "workflow"
    WORKFLOW_RUN = "workflow-run"
    WORKFLOW_VERSION = "workflow-version"
    DEVICE = "device"


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
    ObjectKind.REPORT: ("rep",),
    ObjectKind.REPORT_TEMPLATE: ("rptp",),
    ObjectKind.CASE: ("case",),
    ObjectKind.CASE_TEMPLATE: ("ctmpl",),
    ObjectKind.CASE_QUEUE: ("cqueue",),
    # Second-tier families, as the OpenAPI document's examples spell them. An API log's id is the
    # request id of the call it records (`Request-Id: req_...`).
    ObjectKind.DOCUMENT: ("doc",),
    ObjectKind.TRANSACTION_TYPE: ("txntp",),
    ObjectKind.API_LOG: ("req",),
    ObjectKind.USER_AUDIT_LOG: ("ual",),
    ObjectKind.IMPORTER: ("mprt",),
    ObjectKind.WORKFLOW: ("wfl",),
    ObjectKind.WORKFLOW_RUN: ("wfr",),
    ObjectKind.WORKFLOW_VERSION: ("wfv",),
    ObjectKind.DEVICE: ("dev",),
}

_TOKEN = r"[A-Za-z0-9]{1,64}"  # MAX_TOKEN_LENGTH below


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


#: Most characters a token may have after the prefix and its underscore.
MAX_TOKEN_LENGTH = 64

_KIND_OF_PREFIX = {prefix: kind for kind, prefixes in PREFIXES.items() for prefix in prefixes}


def kind_of_prefix(value: object) -> ObjectKind | None:
    """The kind whose prefix `value` starts with (`inq_...` -> inquiry), whatever follows; else None."""
    if not isinstance(value, str) or "_" not in value:
        return None
    return _KIND_OF_PREFIX.get(value.split("_", 1)[0])


def kind_label(kind: ObjectKind) -> str:
    """`inquiry-session` -> `inquiry session`: the kind as a message says it."""
    return kind.value.replace("-", " ")


def with_article(words: str) -> str:
    """`an account`, `an API log`, `a user audit log`: the article as the words sound."""
    lowered = words.lower()
    vowel = lowered[:1] in "aeiou" and not lowered.startswith(("us", "uni", "eu"))
    return f"{'an' if vowel else 'a'} {words}"


def prefixes_in_words(prefixes: tuple[str, ...]) -> str:
    """`act_...`, or `libf_..., lidf_... or lis_...` for a kind with one prefix per subtype."""
    shown = [f"{prefix}_..." for prefix in prefixes]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def shape_problem(prefixes: tuple[str, ...], value: object) -> str:
    """What is wrong with `value` as an id carrying one of `prefixes`, in words; '' if nothing is.

    Only a known prefix is ever repeated: the rest of a wrong value may be anything (a name, an e-mail
    address) and stays out of messages and transcripts.
    """
    if not isinstance(value, str):
        return "it is not a string"
    if not value:
        return "it is empty"
    prefix, underscore, token = value.partition("_")
    if not underscore or prefix not in prefixes:
        other = kind_of_prefix(value)
        if other is not None:
            return f"{prefix}_... is {with_article(kind_label(other))} id"
        return f"it does not start with {prefixes_in_words(prefixes)}"
    if not token:
        return f"nothing follows {prefix}_"
    if len(token) > MAX_TOKEN_LENGTH:
        return f"it has more than {MAX_TOKEN_LENGTH} characters after {prefix}_"
    if not (token.isascii() and token.isalnum()):
        return f"after {prefix}_ it has characters other than letters and digits"
    return ""


def id_problem(kind: ObjectKind, value: object) -> str:
    """What is wrong with `value` as an id of `kind`, in words (see `shape_problem`); '' if nothing is."""
    return shape_problem(PREFIXES[kind], value)


def validate_id(kind: ObjectKind, value: str) -> str:
    """Return `value` if it is a well-formed ID of `kind`, else raise `InvalidIdError`."""
    if not isinstance(value, str) or not _COMPILED[kind].fullmatch(value):
        problem = id_problem(kind, value) or "it is not well formed"
        label = kind_label(kind)
        prefixes = prefixes_in_words(PREFIXES[kind])
        shape = f"{prefixes} (the prefix, then 1 to {MAX_TOKEN_LENGTH} letters and digits)"
        raise InvalidIdError(f"not a valid {label} id: {problem}; {with_article(label)} id is {shape}")
    return value


def _validator(kind: ObjectKind) -> AfterValidator:
    return AfterValidator(lambda value: validate_id(kind, value))


def id_type(kind: ObjectKind) -> Any:
    """The annotated type of an id argument of `kind` (pattern in the schema, validated, kept in clear),
    for models built at run time; the named aliases below are the same types for declared models."""
    return Annotated[str, Field(pattern=id_pattern(kind)), _validator(kind), OBJECT_ID]


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
ReportId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.REPORT)), _validator(ObjectKind.REPORT), OBJECT_ID
]
ReportTemplateId = Annotated[
    str,
    Field(pattern=id_pattern(ObjectKind.REPORT_TEMPLATE)),
    _validator(ObjectKind.REPORT_TEMPLATE),
    OBJECT_ID,
]
CaseId = Annotated[str, Field(pattern=id_pattern(ObjectKind.CASE)), _validator(ObjectKind.CASE), OBJECT_ID]
CaseTemplateId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.CASE_TEMPLATE)), _validator(ObjectKind.CASE_TEMPLATE), OBJECT_ID
]
CaseQueueId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.CASE_QUEUE)), _validator(ObjectKind.CASE_QUEUE), OBJECT_ID
]

DocumentId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.DOCUMENT)), _validator(ObjectKind.DOCUMENT), OBJECT_ID
]
TransactionTypeId = Annotated[
    str,
    Field(pattern=id_pattern(ObjectKind.TRANSACTION_TYPE)),
    _validator(ObjectKind.TRANSACTION_TYPE),
    OBJECT_ID,
]
ApiLogId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.API_LOG)), _validator(ObjectKind.API_LOG), OBJECT_ID
]
UserAuditLogId = Annotated[
    str,
    Field(pattern=id_pattern(ObjectKind.USER_AUDIT_LOG)),
    _validator(ObjectKind.USER_AUDIT_LOG),
    OBJECT_ID,
]
ImporterId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.IMPORTER)), _validator(ObjectKind.IMPORTER), OBJECT_ID
]
WorkflowId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.WORKFLOW)), _validator(ObjectKind.WORKFLOW), OBJECT_ID
]
WorkflowRunId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.WORKFLOW_RUN)), _validator(ObjectKind.WORKFLOW_RUN), OBJECT_ID
]
DeviceId = Annotated[
    str, Field(pattern=id_pattern(ObjectKind.DEVICE)), _validator(ObjectKind.DEVICE), OBJECT_ID
]

__all__ = [
    "PREFIXES",
    "AccountActionId",
    "AccountId",
    "AccountTypeId",
    "ApiLogId",
    "CaseId",
    "CaseQueueId",
    "CaseTemplateId",
    "DeviceId",
    "DocumentId",
    "EventId",
    "ImporterId",
    "InquiryId",
    "InquirySessionId",
    "InquiryTemplateId",
    "InvalidIdError",
    "ListId",
    "ListItemId",
    "ObjectKind",
    "ReportId",
    "ReportTemplateId",
    "TransactionId",
    "TransactionTypeId",
    "UserAuditLogId",
    "VerificationId",
    "WebhookId",
    "WorkflowId",
    "WorkflowRunId",
    "id_pattern",
    "id_problem",
    "is_object_id",
    "kind_label",
    "kind_of_prefix",
    "validate_id",
]
