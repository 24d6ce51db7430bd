"""Turning failures into messages an agent can act on: what went wrong, and the next step.

A message says what happened and how to check or fix it, never whether to try again: that verdict is
the failure kind's one retry hint, which `server.errors.tool_error` appends (`retry_hint`), so no message
can carry two hints that contradict each other. A wrong id is explained in words (what kind was given,
what kind is needed, which tools return one), never as the regular expression of its schema.

Every message here is written in our own words. Persona's free text (`details`, unknown titles) never
passes through: titles only from the client's known-safe set, field names only derived from pointers
that passed the strict shape check, ids only when they have the id shape. Bad argument values are never
echoed, so a mistyped e-mail address does not land in a transcript or a log.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from persona_mcp.auth.scopes import PERSONA_PERMISSIONS
from persona_mcp.persona.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PersonaError,
    RateLimitedError,
    ServerError,
    UnexpectedResponseError,
    UnprocessableEntityError,
    UnsafePathError,
    UpstreamUnavailableError,
    safe_request_id,
)
from persona_mcp.persona.ids import (
    MAX_TOKEN_LENGTH,
    PREFIXES,
    ObjectKind,
    kind_label,
    kind_of_prefix,
    prefixes_in_words,
    shape_problem,
    with_article,
)
from persona_mcp.pii import is_pii, model_classes
from persona_mcp.tools.factories import CursorNotInListingError
from persona_mcp.tools.inputs import ANY_ID_PATTERN
from persona_mcp.tools.spec import ToolSpec

AnySpec = ToolSpec[Any, Any]

_ID_SHAPE = re.compile(ANY_ID_PATTERN)
_NAME_SHAPE = re.compile(r"^[A-Za-z0-9_]{1,64}$")

_DEFAULT_CONFLICT = "it conflicts with the object's current state or a concurrent change"


@dataclass(frozen=True, slots=True)
class ToolFailure:
    """What the agent is told when a call fails upstream."""

    message: str
    #: None where repeating the same call can never help (the arguments must change first).
    retry_safe: bool | None
    kind: str


def _kind_of(identifier: str) -> ObjectKind | None:
    prefix = identifier.split("_", 1)[0]
    return next((kind for kind, prefixes in PREFIXES.items() if prefix in prefixes), None)


def _ids_in(arguments: Mapping[str, Any]) -> list[str]:
    """Id-shaped values among the `*_id` / `*_ids` arguments (only those are safe to repeat)."""
    found: list[str] = []
    for name, value in arguments.items():
        if not (name.endswith("_id") or name.endswith("_ids")):
            continue
        values = value if isinstance(value, list) else [value]
        found.extend(v for v in values if isinstance(v, str) and _ID_SHAPE.fullmatch(v))
    return found


def _finders(kind: ObjectKind, visible: Collection[str] | None = None) -> list[str]:
    """Tools that return ids of `kind` (`Catalogue.returners_for`), among those the caller can see."""
    from persona_mcp.tools import catalogue  # the catalogue imports this module's users

    return [name for name in catalogue.returners_for(kind) if visible is None or name in visible]


def _either(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _with_request_id(message: str, error: PersonaError) -> str:
    request_id = safe_request_id(error.request_id)
    if not request_id:
        return message
    return f"{message.removesuffix('.')} (Persona request id {request_id})."


def _not_found(spec: AnySpec, arguments: Mapping[str, Any], visible: Collection[str] | None) -> str:
    message = _missing_object(spec, arguments, visible)
    if spec.sandbox_only:
        message += f" Note: {spec.name} works only with a sandbox API key."
    return message


def _missing_object(spec: AnySpec, arguments: Mapping[str, Any], visible: Collection[str] | None) -> str:
    ids = _ids_in(arguments)
    if not ids:
        return f"Persona found nothing for {spec.name} in this environment."
    kinds = [kind for kind in (_kind_of(i) for i in ids) if kind is not None]
    finders = list(dict.fromkeys(name for kind in kinds for name in _finders(kind, visible)))
    hint = f"; use {' or '.join(finders)} to find the right id" if finders else ""
    if len(ids) == 1:
        label = kinds[0].value.replace("-", " ") if kinds else "object"
        return f"No {label} {ids[0]} exists in this environment{hint}."
    return f"One of {', '.join(ids[:10])} does not exist in this environment{hint}."


def _argument_name(spec: AnySpec, pointer: str) -> str:
    """`/data/attributes/name-first` -> `name_first` (the tool's own argument name when it has one)."""
    segments = [s for s in pointer.split("/") if s and not s.isdigit()]
    if not segments:
        return "the request"
    candidate = segments[-1].replace("-", "_")
    if candidate in spec.input_model.model_fields:
        return candidate
    singular = f"{candidate}s" if f"{candidate}s" in spec.input_model.model_fields else None
    return singular or candidate


def _invalid(spec: AnySpec, error: PersonaError) -> str:
    names = list(dict.fromkeys(_argument_name(spec, p) for p in error.field_pointers))
    titles = error.safe_titles
    reason = f" ({titles[0]})" if titles else ""
    if names:
        return f"Persona rejected the arguments of {spec.name}{reason}: check {', '.join(names[:10])}."
    return (
        f"Persona rejected the arguments of {spec.name}{reason}; check the values against the tool's "
        "schema and the object's current state."
    )


def _cursor_not_in_listing(spec: AnySpec) -> str:
    """An empty page after a cursor is not the end of the data: the cursor is not from this listing."""
    return (
        f"Invalid arguments for {spec.name}: after: nothing follows this cursor, so it is not the "
        f"next_cursor of a {spec.name} page with these same arguments (or its object is gone); give the "
        "next_cursor of the last page exactly as it came back with the same other arguments, or leave "
        "after out to start from the first page."
    )


def _attempts_text(error: PersonaError) -> str:
    return f"{error.attempts} attempt{'s' if error.attempts != 1 else ''}"


def _outage(spec: AnySpec, error: PersonaError) -> ToolFailure:
    """Persona unavailable, for a read or for a write no attempt of which can have been applied."""
    what = f"HTTP {error.status}" if error.status is not None else "no response"
    attempts = f"after {_attempts_text(error)}"
    if not spec.is_write:
        message = f"Persona is unavailable ({what}, {attempts}); this call only reads."
        return ToolFailure(message, True, "upstream_unavailable")
    message = (
        f"Persona could not be reached ({what}, {attempts}); no attempt of {spec.name} got through to it, "
        "so nothing changed."
    )
    return ToolFailure(message, True, "upstream_unavailable")


def _created_kind(spec: AnySpec) -> ObjectKind | None:
    """The kind of object a create/clone tool makes (from its operation id), None for other tools."""
    family, _, action = (spec.operations[0] if spec.operations else "").partition(".")
    if not action.startswith(("create", "clone")):
        return None
    singular = family[:-3] + "y" if family.endswith("ies") else family.removesuffix("s")
    try:
        return ObjectKind(singular.replace("_", "-"))
    except ValueError:
        return None


def _how_to_check(spec: AnySpec, arguments: Mapping[str, Any], visible: Collection[str] | None) -> str:
    kind = _created_kind(spec)
    if kind is not None:
        label = kind.value.replace("-", " ")
        finders = _finders(kind, visible)
        hint = ", e.g. by its reference_id" if "reference_id" in arguments else ""
        where = f" with {' or '.join(finders)}{hint}" if finders else ""
        return f"look for the new {label}{where}"
    ids = _ids_in(arguments)
    if ids:
        return f"read {', '.join(ids[:10])} again and see whether it shows the change"
    return "read the objects it would have changed"


def _what_happened(error: PersonaError) -> str:
    last = f"HTTP {error.status}" if error.status is not None else "no response"
    if isinstance(error, UnexpectedResponseError):
        return f"Persona answered ({last}) in a shape this server does not understand"
    if error.status is None or error.status >= 500:
        return f"Persona gave no definite answer ({last}, after {_attempts_text(error)})"
    return (
        f"an attempt reached Persona without a definite answer coming back, and the last of its "
        f"{_attempts_text(error)} got {last}"
    )


def _effect_unknown(
    spec: AnySpec, error: PersonaError, arguments: Mapping[str, Any], visible: Collection[str] | None
) -> ToolFailure:
    """A write some attempt of which may have been carried out: never "safe to repeat", and how to check.

    Decided on every attempt (`PersonaError.maybe_applied`), not on the last status: a lost answer followed
    by a 429 may have created the object, and a repeat would be a new call under a new Idempotency-Key.
    """
    twice = (
        ""
        if spec.annotations.idempotent
        else " A new call would go under a new Idempotency-Key, so Persona could apply it twice."
    )
    message = (
        f"Whether {spec.name} took effect in Persona is unknown: {_what_happened(error)}.{twice} "
        f"To see whether the change happened, {_how_to_check(spec, arguments, visible)}."
    )
    if isinstance(error, RateLimitedError) and error.retry_after is not None:
        message += f" Persona's rate limit also asks for a pause of {error.retry_after:g} s before any call."
    if error.idempotency_key:
        message += (
            f" This call was sent with Idempotency-Key {error.idempotency_key}; the audit log records it "
            "(`audit query --unresolved`)."
        )
    return ToolFailure(message, False, "outcome_unknown")


def explain(
    spec: AnySpec,
    error: PersonaError,
    arguments: Mapping[str, Any],
    *,
    visible: Collection[str] | None = None,
) -> ToolFailure:
    """The agent-facing account of a failed Persona call, with the next step.

    Tools it suggests are among `visible` (the caller's tools) when given, else the whole catalogue.
    """
    failure: ToolFailure
    if isinstance(error, CursorNotInListingError):
        failure = ToolFailure(_cursor_not_in_listing(spec), None, "invalid_arguments")
    elif spec.is_write and error.maybe_applied:
        failure = _effect_unknown(spec, error, arguments, visible)
    elif isinstance(error, NotFoundError):
        failure = ToolFailure(_not_found(spec, arguments, visible), False, "not_found")
    elif isinstance(error, ConflictError):
        rule = spec.conflict_hint or _DEFAULT_CONFLICT
        message = f"Persona refused {spec.name}: {rule}."
        failure = ToolFailure(message, False, "conflict")
    elif isinstance(error, UnprocessableEntityError | BadRequestError):
        failure = ToolFailure(_invalid(spec, error), False, "invalid_request")
    elif isinstance(error, RateLimitedError) or "Quota exceeded" in error.safe_titles:
        wait = f"{error.retry_after:g} s" if error.retry_after is not None else "a minute"
        message = f"Persona's rate limit or quota was reached; wait {wait}."
        failure = ToolFailure(message, True, "rate_limited")
    elif isinstance(error, AuthenticationError):
        message = (
            "Persona rejected this server's API credential; an administrator must check it "
            "(`persona-mcp credentials`)."
        )
        failure = ToolFailure(message, False, "upstream_auth")
    elif isinstance(error, PermissionDeniedError):
        needs = ", ".join(sorted(PERSONA_PERMISSIONS.get(spec.scope, frozenset()))) or "a permission"
        sandbox = " (it also only works with a sandbox key)" if spec.sandbox_only else ""
        message = (
            f"Persona refused {spec.name}: the server's API key lacks {needs}, or the environment or "
            f"feature is not enabled{sandbox}. Ask an administrator."
        )
        failure = ToolFailure(message, False, "upstream_forbidden")
    elif isinstance(error, ServerError | UpstreamUnavailableError):
        failure = _outage(spec, error)
    elif isinstance(error, UnsafePathError):
        failure = ToolFailure(f"{spec.name} built a request the client refused to send.", False, "internal")
    elif isinstance(error, UnexpectedResponseError):
        outcome = "the outcome is unknown" if spec.is_write else "nothing was changed"
        message = f"Persona's answer to {spec.name} did not have the expected shape; {outcome}."
        failure = ToolFailure(message, not spec.is_write, "unexpected_response")
    else:
        status = f"HTTP {error.status}" if error.status is not None else "an error"
        failure = ToolFailure(f"Persona answered {status} to {spec.name}.", False, "upstream_error")
    return ToolFailure(_with_request_id(failure.message, error), failure.retry_safe, failure.kind)


# -- argument validation -------------------------------------------------------------------------------------


def _location(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f".{part}" if text else str(part)
        elif _NAME_SHAPE.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += ".<unnamed>" if text else "<unnamed>"
    return text or "arguments"


def _items(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of an array's elements (also of an optional array)."""
    for candidate in (schema, *schema.get("anyOf", [])):
        if isinstance(candidate, Mapping) and isinstance(candidate.get("items"), dict):
            items: dict[str, Any] = candidate["items"]
            return items
    return {}


def _field_info(model: type[BaseModel], loc: Sequence[int | str]) -> tuple[bool, dict[str, Any]]:
    """Whether the value at `loc` is PII, and its JSON schema (for the allowed pattern)."""
    current: type[BaseModel] | None = model
    pii = False
    schema: dict[str, Any] = {}
    for part in loc:
        if isinstance(part, int):
            schema = _items(schema)
            continue
        field = current.model_fields.get(part) if current is not None else None
        if current is None or field is None:
            return pii, {}
        pii = pii or is_pii(field.metadata)
        schema = current.model_json_schema()["properties"].get(part, {})
        nested = model_classes(field.annotation)
        current = nested[0] if nested else None
    return pii, schema


def _pattern(schema: Mapping[str, Any]) -> str | None:
    if "pattern" in schema:
        return str(schema["pattern"])
    for variant in schema.get("anyOf", []):
        if isinstance(variant, Mapping) and "pattern" in variant:
            return str(variant["pattern"])
    return None


#: The pattern of an id with fixed prefixes (`id_pattern`, the tag id): `^(?:act)_[A-Za-z0-9]{1,64}$`.
_FIXED_PREFIX_ID = re.compile(r"\^(?:\(\?:)?([a-z]+(?:\|[a-z]+)*)\)?_\[A-Za-z0-9\]\{1,64\}\$")


def _id_prefixes(pattern: str | None) -> tuple[str, ...] | None:
    """The prefixes an id field accepts, read from its schema pattern; None for other fields."""
    found = _FIXED_PREFIX_ID.fullmatch(pattern) if pattern is not None else None
    return tuple(found.group(1).split("|")) if found else None


def _kinds(prefixes: tuple[str, ...]) -> list[ObjectKind | None]:
    return list(dict.fromkeys(kind_of_prefix(f"{prefix}_") for prefix in prefixes))


def _needed(prefixes: tuple[str, ...]) -> tuple[str, ObjectKind | None]:
    """`an account id act_...`, and the kind (None for ids outside ObjectKind, such as tags, and for
    arguments taking ids of several kinds: `an account, inquiry or report id act_..., inq_... or rep_...`)."""
    kinds = _kinds(prefixes)
    if len(kinds) > 1 and None not in kinds:
        labels = [kind_label(k) for k in kinds if k is not None]
        words = f"{', '.join(labels[:-1])} or {labels[-1]}"
        return f"{with_article(words)} id {prefixes_in_words(prefixes)}", None
    kind = kinds[0]
    label = kind_label(kind) if kind is not None else prefixes[0]
    return f"{with_article(label)} id {prefixes_in_words(prefixes)}", kind


def _where_to_get_any(prefixes: tuple[str, ...], visible: Collection[str] | None) -> str:
    """For an argument taking several kinds: the first finder of each kind that has one."""
    finders = [found[0] for k in _kinds(prefixes) if k is not None and (found := _finders(k, visible))]
    if finders:
        return f", which {_either(finders)} return"
    return ", which no tool here returns: copy it from the Persona dashboard"


def _where_to_get(kind: ObjectKind | None, visible: Collection[str] | None) -> str:
    finders = _finders(kind, visible) if kind is not None else []
    if finders:
        return f", which {_either(finders)} return{'s' if len(finders) == 1 else ''}"
    return ", which no tool here returns: copy it from the Persona dashboard"


def _id_message(
    spec: AnySpec, where: str, prefixes: tuple[str, ...], value: object, visible: Collection[str] | None
) -> str:
    """A wrong id in words: what was given (its kind, from a known prefix), what is needed, and where
    to get one. Only a known prefix of the value is repeated, never the rest."""
    problem = shape_problem(prefixes, value) or "it is not well formed"
    needed, kind = _needed(prefixes)
    if where == "after" and spec.finds is not None and spec.finds is kind:
        return (
            f"after: {problem}; after takes the next_cursor of a previous {spec.name} page ({needed}); "
            "leave it out for the first page"
        )
    several = kind is None and len(_kinds(prefixes)) > 1
    source = _where_to_get_any(prefixes, visible) if several else _where_to_get(kind, visible)
    return f"{where}: {problem}; {spec.name} needs {needed}{source}"


def _any_id_message(where: str) -> str:
    return (
        f"{where} must be a Persona object id: its prefix (act, inq, lst, ...), an underscore, then 1 to "
        f"{MAX_TOKEN_LENGTH} letters and digits"
    )


_SIZE_ERRORS = frozenset({"string_too_long", "string_too_short", "too_long", "too_short"})


def validation_message(spec: AnySpec, exc: ValidationError, *, visible: Collection[str] | None = None) -> str:
    """Name each bad argument and what it accepts, without repeating the value given.

    Ids are explained in words (see `_id_message`); tools it suggests are among `visible` when given.
    """
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-"))]
        where = _location(loc)
        kind = error["type"]
        pii, schema = _field_info(spec.input_model, loc)
        id_prefixes = None if pii else _id_prefixes(_pattern(schema))
        if kind == "missing":
            problems.append(f"{where} is required")
        elif kind == "extra_forbidden":
            problems.append(f"{where} is not an argument of {spec.name}")
        elif id_prefixes is not None:
            problems.append(_id_message(spec, where, id_prefixes, error.get("input"), visible))
        elif _pattern(schema) == ANY_ID_PATTERN:
            problems.append(_any_id_message(where))
        elif kind in _SIZE_ERRORS or (kind == "value_error" and pii):
            # Sizes are stated by pydantic without the value; a validator's words are ours and never
            # repeat it either (an upload over Persona's limit says the limit).
            message = str(error["ctx"]["error"]) if kind == "value_error" else str(error["msg"])
            problems.append(f"{where}: {message[0].lower()}{message[1:]}")
        elif kind == "string_pattern_mismatch" or (pii and _pattern(schema)):
            problems.append(f"{where} must match the pattern {_pattern(schema) or error['ctx']['pattern']}")
        elif pii:
            problems.append(f"{where} is not valid ({kind.replace('_', ' ')})")
        else:
            # A validator's own words, without pydantic's "Value error, " in front of them.
            message = str(error["ctx"]["error"]) if kind == "value_error" else str(error["msg"])
            problems.append(f"{where}: {message[0].lower()}{message[1:]}" if loc else message)
    listed = "; ".join(problems[:10])
    more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
    return f"Invalid arguments for {spec.name}: {listed}{more}."
