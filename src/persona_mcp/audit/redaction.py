"""Personal values out of the audit log: keyed digests instead of clear text.

A digest is `hmac-sha256:<hex>` of the normalised value under a key kept outside the audit tables, so a
reviewer who holds the key can ask "which calls involved jane@example.com?" (`audit query --email`) while
the database alone reveals nothing and cannot be brute-forced offline.

Normalisation makes equal values digest equally however they were typed: e-mail addresses are trimmed and
lower-cased, phone numbers reduced to digits (keeping a leading +), anything else trimmed, whitespace
collapsed and case-folded.

What is kept in clear is declared, never guessed from a value: a validated argument stays readable only
where its input model declares it safe (an object id, an enum, a fixed pattern: `persona_mcp.pii`), and
every other string is digested, so personal data typed into a free-text field (a tag, a note, a redirect
URI) never reaches the log. Arguments that were not validated are digested whole, except values that are
well-formed Persona object ids: ids are not personal data, and they are how a reviewer finds the calls
aimed at one object, denied ones included.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from persona_mcp.audit.keys import load_pii_key
from persona_mcp.pii import Entries, Handling, Items, Leaf, Nested, Node, argument_plan, declared_keys

DIGEST_PREFIX = "hmac-sha256:"

_PHONE_SHAPE = re.compile(r"^\+?[\d\s().\-/]+$")
_WHITESPACE = re.compile(r"\s+")


def normalise_email(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip().lower()


def normalise_phone(value: str) -> str:
    text = value.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    return ("+" if text.startswith("+") else "") + digits


def normalise(value: Any) -> str:
    """The canonical text of a personal value, choosing the rule by the value's shape."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = unicodedata.normalize("NFC", str(value)).strip()
    if "@" in text and " " not in text:
        return normalise_email(text)
    if _PHONE_SHAPE.match(text) and sum(ch.isdigit() for ch in text) >= 7:
        return normalise_phone(text)
    return _WHITESPACE.sub(" ", text).casefold()


class PiiDigester:
    """Keyed digests of personal values."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the PII digest key must be at least 32 bytes")
        self._key = key

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> PiiDigester:
        """The digester keyed by `PERSONA_MCP_AUDIT_PII_KEY` or `<data_dir>/audit-pii.key`."""
        return cls(load_pii_key(data_dir))

    def derived_key(self, purpose: str) -> bytes:
        """A key for another purpose (the console's session cookies), derived from this one so that every
        replica sharing the PII key shares it too, and separated by `purpose` so neither reveals the other."""
        return hmac.new(self._key, b"persona-mcp derived key\0" + purpose.encode(), hashlib.sha256).digest()

    def _mac(self, text: str) -> str:
        return DIGEST_PREFIX + hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def digest(self, value: Any) -> str:
        """Digest of any personal value (shape-based normalisation)."""
        return self._mac(normalise(value))

    def digest_email(self, value: str) -> str:
        return self._mac(normalise_email(value))

    def digest_phone(self, value: str) -> str:
        return self._mac(normalise_phone(value))

    def lookup_digests(
        self, *, emails: Iterable[str] = (), phones: Iterable[str] = (), values: Iterable[str] = ()
    ) -> tuple[str, ...]:
        """The digests a reviewer's clear-text search terms match in stored records (`AuditFilter`)."""
        return (
            *(self.digest_email(email) for email in emails),
            *(self.digest_phone(phone) for phone in phones),
            *(self.digest(value) for value in values),
        )

    def digest_all(self, value: Any) -> Any:
        """Every leaf and every map key of a JSON-like value digested, numbers included (a phone number
        or an ID number sent as a number is still personal); only None and booleans are kept."""
        if isinstance(value, Mapping):
            return {self.digest(k): self.digest_all(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.digest_all(v) for v in value]
        if value is None or isinstance(value, bool):
            return value
        return self.digest(value)

    def digest_strings(self, value: Any) -> Any:
        """Every string of a JSON-like value digested, map keys included; numbers and booleans kept."""
        if isinstance(value, Mapping):
            return {self.digest(k): self.digest_strings(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.digest_strings(v) for v in value]
        return self.digest(value) if isinstance(value, str) else value

    def redact_arguments(
        self,
        input_model: type[BaseModel] | None,
        arguments: Mapping[str, Any],
        *,
        validated: bool = True,
        object_ids: Collection[str] = (),
    ) -> dict[str, Any]:
        """Arguments fit for the audit log.

        Validated against the tool's input model: every value kept or digested as the model declares
        (`persona_mcp.pii.argument_plan`): strings digested unless declared safe, PII-marked values
        digested whole, undeclared keys digested whole. Not validated (a denied call, invalid input, an
        unknown tool): nothing vouches for any value, so every string and number is digested except
        the well-formed Persona object ids the caller found in them (`object_ids`), and keys are kept
        only where the tool's model declares them.
        """
        if input_model is not None and validated:
            return self._by_model(input_model, arguments)
        names = declared_keys(input_model) if input_model is not None else frozenset()
        kept = frozenset(names) | frozenset(object_ids)
        return self._unvalidated(arguments, kept, frozenset(object_ids))  # type: ignore[no-any-return]

    def _by_model(self, model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]:
        plan = argument_plan(model)
        out: dict[str, Any] = {}
        for key, value in data.items():
            node = plan.get(key)
            if node is None:
                out[self.digest(key)] = self.digest_all(value)
            else:
                out[key] = self._apply(node, value)
        return out

    def _apply(self, node: Node, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(node, Leaf):
            if node.handling is Handling.PERSONAL:
                return self.digest_all(value)
            if node.handling is Handling.FREE:
                return self.digest_strings(value)
            return value
        if isinstance(node, Nested) and isinstance(value, Mapping):
            return self._by_model(node.model, value)
        if isinstance(node, Items) and isinstance(value, list | tuple):
            return [self._apply(node.item, item) for item in value]
        if isinstance(node, Entries) and isinstance(value, Mapping):
            keep_keys = node.key in (Handling.SAFE, Handling.OBJECT_ID)
            return {
                (k if keep_keys else self.digest(k)): self._apply(node.value, v) for k, v in value.items()
            }
        # A shape the model does not declare here (validation would have refused it): nothing vouches.
        return self.digest_all(value)

    def _unvalidated(self, value: Any, keys: frozenset[str], ids: frozenset[str]) -> Any:
        if isinstance(value, Mapping):
            return {
                (k if k in keys else self.digest(k)): self._unvalidated(v, keys, ids)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._unvalidated(v, keys, ids) for v in value]
        if value is None or isinstance(value, bool) or (isinstance(value, str) and value in ids):
            return value
        return self.digest(value)


__all__ = [
    "DIGEST_PREFIX",
    "PiiDigester",
    "normalise",
    "normalise_email",
    "normalise_phone",
]
