"""Personal values out of the audit log: keyed digests instead of clear text.

A digest is `hmac-sha256:<hex>` of the normalised value under a key kept outside the audit tables, so a
reviewer who holds the key can ask "which calls involved jane@example.com?" (`audit query --email`) while
the database alone reveals nothing and cannot be brute-forced offline.

Normalisation makes equal values digest equally however they were typed: e-mail addresses are trimmed and
lower-cased, phone numbers reduced to digits (keeping a leading +), anything else trimmed, whitespace
collapsed and case-folded. Which fields are personal comes from the `PII` marker on the tool's input model
(`persona_mcp.pii.transform_pii`); keys the model does not declare, and all arguments of a call whose input
did not validate, are digested whole, because nothing vouches that they are harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from persona_mcp.audit.keys import load_pii_key
from persona_mcp.pii import is_pii, model_classes, transform_pii

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
        """Every leaf of a JSON-like value digested, numbers included (a phone number or an ID number
        sent as a number is still personal); only None and booleans are kept. Map keys that are not
        plain identifiers are digested too: an unvalidated map can carry an e-mail address as a key."""
        if isinstance(value, Mapping):
            return {self._map_key(k): self.digest_all(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.digest_all(v) for v in value]
        if value is None or isinstance(value, bool):
            return value
        return self.digest(value)

    def _map_key(self, key: Any) -> str:
        text = str(key)
        return text if _IDENTIFIER.fullmatch(text) else self.digest(text)

    def redact_arguments(
        self, input_model: type[BaseModel] | None, arguments: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Arguments fit for the audit log.

        With the tool's input model: PII-marked values digested, undeclared keys digested whole. Without
        one (unknown tool, or input that failed validation): every string leaf digested.
        """
        if input_model is None:
            return {self._map_key(k): self.digest_all(v) for k, v in arguments.items()}
        marked, _ = transform_pii(input_model, dict(arguments), self.digest)
        result: dict[str, Any] = self._digest_undeclared(input_model, marked)
        return result

    def _digest_undeclared(self, model: type[BaseModel], data: Any) -> Any:
        if not isinstance(data, Mapping):
            return self.digest_all(data)
        declared: dict[str, type[BaseModel] | None] = {}
        for name, field in model.model_fields.items():
            # A PII field was already digested by transform_pii: keep it as it is (None means "keep").
            nested = None if is_pii(field.metadata) else _model_class(field.annotation)
            for key in (name, field.alias, field.serialization_alias, field.validation_alias):
                if isinstance(key, str):
                    declared[key] = nested
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key not in declared:
                out[self._map_key(key)] = self.digest_all(value)
                continue
            nested_model = declared[key]
            if nested_model is None or value is None:
                out[str(key)] = value
            elif isinstance(value, list):
                out[str(key)] = [self._digest_undeclared(nested_model, item) for item in value]
            else:
                out[str(key)] = self._digest_undeclared(nested_model, value)
        return out


#: Map keys kept in clear: identifier-like names (argument names, custom field keys), nothing else.
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def _model_class(annotation: Any) -> type[BaseModel] | None:
    return next(iter(model_classes(annotation)), None)


__all__ = ["DIGEST_PREFIX", "PiiDigester", "normalise", "normalise_email", "normalise_phone"]
