"""Building blocks of tool input models: strict base, pagination, and the constrained scalar types.

Every input model forbids unknown keys, so a misspelt argument is an error the agent sees instead of a
value silently dropped. The constrained types carry their pattern into the JSON schema, so the agent can
read the rule before it calls, and those that leave no room for free text carry a `SafeMarker`
(`OBJECT_ID`, `FIXED_PATTERN`): the audit log keeps only such values in clear and digests every other
string argument.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from persona_mcp.persona.ids import ObjectKind, id_pattern, validate_id
from persona_mcp.pii import FIXED_PATTERN, OBJECT_ID
from persona_mcp.tools.input_rules import Rule, merged

#: Arguments the server takes beside a model's own (a write tool's `dry_run`), while one schema is built.
_EXTRA_ARGUMENTS: ContextVar[tuple[type[Any], dict[str, Any]] | None] = ContextVar(
    "extra_arguments", default=None
)


def _with_rules(schema: dict[str, Any], model: type[Any]) -> None:
    extra = _EXTRA_ARGUMENTS.get()
    if extra is not None and extra[0] is model:
        # Before the rules: a rule that counts arguments must count these too.
        schema["properties"].update(extra[1])
    merged(schema, model.rules)


def schema_with_arguments(model: type[BaseModel], extra: dict[str, Any]) -> dict[str, Any]:
    """`model`'s validation schema with `extra` optional arguments, its cross-field rules stated for
    the whole set (the pipeline takes the extra arguments out before the model validates the rest)."""
    token = _EXTRA_ARGUMENTS.set((model, extra))
    try:
        return model.model_json_schema(mode="validation")
    finally:
        _EXTRA_ARGUMENTS.reset(token)


class ToolInput(BaseModel):
    """Base of every tool's arguments: unknown keys are refused, and the cross-field `rules` a subclass
    declares are checked here and stated in its JSON schema, from the one declaration.

    Built when first needed (`defer_build`): the server builds the models of the tools it exposes when it
    starts (`registry.build_models`), and a family it does not expose costs it no validator."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_with_rules, defer_build=True)

    rules: ClassVar[tuple[Rule, ...]] = ()
    #: Arguments that filter a listing: argument name -> Persona's query parameter (`filter[...]`).
    query_filters: ClassVar[dict[str, str]] = {}

    @model_validator(mode="after")
    def _follows_rules(self) -> Self:
        for rule in self.rules:
            rule.check(self.__dict__)
        return self

    def filter_params(self) -> dict[str, str]:
        """The query parameters of the filter arguments given (times in ISO 8601, enums by value)."""
        params: dict[str, str] = {}
        for name, param in self.query_filters.items():
            value = getattr(self, name)
            if value is not None:
                params[param] = iso(value) if isinstance(value, datetime) else str(value)
        return params


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


#: Any Persona object id (`<prefix>_<letters and digits>`), for arguments that accept several kinds.
ANY_ID_PATTERN = r"^[a-z]{2,12}_[A-Za-z0-9]{1,64}$"
AnyObjectId = Annotated[str, Field(pattern=ANY_ID_PATTERN), OBJECT_ID]

#: A pagination cursor, copied from a previous page's `next_cursor`; it only ever travels as a query
#: parameter (encoded by the client), so a length bound is enough.
Cursor = Annotated[str, Field(min_length=1, max_length=128)]

#: ISO 3166-1 alpha-2 country code; lower case is accepted and upper-cased.
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$"), BeforeValidator(_upper), FIXED_PATTERN]

#: E-mail address: a deliberately plain shape check (Persona validates deliverability itself).
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$"
Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=320)]

#: Phone number: digits with optional leading + and common separators.
PHONE_PATTERN = r"^\+?[0-9 ()./-]{4,32}$"
Phone = Annotated[str, Field(pattern=PHONE_PATTERN)]

#: Tag names are short labels chosen by people (digested in audit records); tag ids are Persona ids.
TagName = Annotated[str, Field(min_length=1, max_length=255)]
TagId = Annotated[str, Field(pattern=r"^tag_[A-Za-z0-9]{1,64}$"), OBJECT_ID]

#: A reference id is the caller's own identifier for a user. Persona advises against personal data in it,
#: but nothing stops an e-mail or a customer number: audit records keep it as a digest.
ReferenceId = Annotated[str, Field(min_length=1, max_length=255)]

#: ISO 8601 timestamp for created-at filters; naive values are taken as UTC.
Timestamp = Annotated[
    datetime,
    AfterValidator(lambda value: value if value.tzinfo else value.replace(tzinfo=UTC)),
    FIXED_PATTERN,
]


def iso(value: datetime) -> str:
    """A timestamp as Persona's filters take it (`2024-01-31T00:00:00.000Z`)."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: persona.ids has no annotated type for template versions; this one is built from its public helpers.
InquiryTemplateVersionId = Annotated[
    str,
    Field(pattern=id_pattern(ObjectKind.INQUIRY_TEMPLATE_VERSION)),
    AfterValidator(partial(validate_id, ObjectKind.INQUIRY_TEMPLATE_VERSION)),
    OBJECT_ID,
]

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


class PageInput(ToolInput):
    """Cursor pagination shared by every list and search tool."""

    page_size: int = Field(
        DEFAULT_PAGE_SIZE,
        ge=1,
        le=MAX_PAGE_SIZE,
        description="Page size.",
    )
    after: Cursor | None = Field(None, description="next_cursor of the last page.")

    def page_params(self) -> dict[str, str]:
        """The `page[...]` query parameters, bracket-named as Persona expects."""
        params = {"page[size]": str(self.page_size)}
        if self.after is not None:
            params["page[after]"] = self.after
        return params


_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def check_field_keys(fields: dict[str, Any] | None) -> dict[str, Any] | None:
    """Custom field keys are identifiers (they become JSON keys upstream); refuse anything else."""
    if fields is not None:
        for key in fields:
            if not _KEY.fullmatch(key):
                raise ValueError("custom field keys must be 1-128 letters, digits, '_', '.' or '-'")
    return fields


#: Custom `fields` map (Persona field key -> value). Personal by default: mark it PII where used (the
#: audit log then digests its keys as well as its values).
CustomFields = Annotated[
    dict[str, Any],
    AfterValidator(check_field_keys),
    Field(json_schema_extra={"propertyNames": {"pattern": _KEY.pattern}}),
]
