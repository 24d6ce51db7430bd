"""Structural comparison of a sandbox answer with a documented example.

Rules: every key of the example must be in the answer (unless the example's value is null, since the docs
renderer drops nulls inconsistently); every extra key in the answer must be null or documented for the
same resource type in some example; values must have the same JSON type at every level (integers and
floats are both numbers); null on either side matches anything; an empty list on either side matches.
Open maps whose keys are user data (`fields` entries' names, event `payload`, `payload-filter`,
`context`, `behaviors`) are compared only as objects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

_OPEN_MAPS = frozenset({"payload", "payload-filter", "context", "behaviors", "parameters"})

#: Keys the examples omit but PROTOCOL.md documents: rotated-out webhook secrets carry `expires-at` (s12).
_DOCUMENTED_ELSEWHERE = {("webhook", ".attributes.secrets[]"): {"expires-at"}}


def _field_key(key: str) -> str:
    return key.replace("_", "-")


def _field_differences(
    example: dict[str, Any],
    answer: dict[str, Any],
    known: dict[tuple[str, str], set[str]],
    *,
    type_: str,
    path: str,
) -> list[str]:
    """`fields` names come from the account type or inquiry template (kebab in one example, snake in
    another), so only entries present on both sides are compared, matching names across casings."""
    answers = {_field_key(k): (k, v) for k, v in answer.items()}
    problems: list[str] = []
    for key, value in example.items():
        if _field_key(key) in answers:
            answer_key, answer_value = answers[_field_key(key)]
            problems += differences(value, answer_value, known, type_=type_, path=f"{path}.{answer_key}")
    return problems


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _resources(document: dict[str, Any]) -> Iterable[dict[str, Any]]:
    data = document.get("data")
    for item in [*(data if isinstance(data, list) else [data]), *document.get("included", [])]:
        if isinstance(item, dict) and "type" in item:
            yield item


def documented_keys(examples: Iterable[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """Keys seen per (resource type, path inside the resource) across all examples."""
    known: dict[tuple[str, str], set[str]] = defaultdict(set)

    def walk(type_: str, path: str, node: Any) -> None:
        if isinstance(node, dict):
            known[(type_, path)].update(node)
            for key, child in node.items():
                walk(type_, f"{path}.{key}", child)
        elif isinstance(node, list):
            for child in node:
                walk(type_, f"{path}[]", child)

    for document in examples:
        for resource in _resources(document):
            walk(resource["type"], "", resource)
    return known


def differences(
    example: Any, answer: Any, known: dict[tuple[str, str], set[str]], *, type_: str = "", path: str = ""
) -> list[str]:
    if example is None or answer is None:
        return []
    if _kind(example) != _kind(answer):
        return [f"{type_}{path or '/'}: example has {_kind(example)}, answer has {_kind(answer)}"]
    if isinstance(example, list):
        return _list_differences(example, answer, known, type_=type_, path=path)
    if not isinstance(example, dict):
        return []
    if "type" in answer and isinstance(answer.get("type"), str) and "id" in answer:
        if example.get("type") != answer["type"]:
            return [f"{path}.type: example {example.get('type')!r}, answer {answer['type']!r}"]
        type_, path = answer["type"], ""
        if _prefix(example.get("id")) != _prefix(answer.get("id")):
            return [
                f"{type_}.id: prefix {_prefix(answer.get('id'))!r}, example {_prefix(example.get('id'))!r}"
            ]
    last = path.rsplit(".", 1)[-1]
    if last in _OPEN_MAPS:
        return []
    if last == "fields":
        return _field_differences(example, answer, known, type_=type_, path=path)
    problems = [f"{type_}{path}.{k}: missing" for k in example if k not in answer and example[k] is not None]
    allowed = known.get((type_, path), set()) | _DOCUMENTED_ELSEWHERE.get((type_, path), set())
    user_named = path.startswith(".attributes.fields.")
    for key in answer.keys() - example.keys():
        if answer[key] is not None and key not in allowed and not user_named:
            problems.append(f"{type_}{path}.{key}: not documented for {type_ or 'this object'}")
    for key in example.keys() & answer.keys():
        problems += differences(example[key], answer[key], known, type_=type_, path=f"{path}.{key}")
    return problems


def _list_differences(
    example: list[Any], answer: list[Any], known: dict[tuple[str, str], set[str]], *, type_: str, path: str
) -> list[str]:
    if not example or not answer:
        return []
    by_type = {item.get("type"): item for item in example if isinstance(item, dict)}
    problems: list[str] = []
    for item in answer:
        item_type = item.get("type") if isinstance(item, dict) else None
        if isinstance(item_type, str) and "/" in item_type and item_type not in by_type:
            continue  # another subtype in a polymorphic collection (list/country among list/phone-number)
        if path.endswith("included") and item_type not in by_type:
            continue
        problems += differences(
            by_type.get(item_type, example[0]), item, known, type_=type_, path=f"{path}[]"
        )
    return problems


def _prefix(object_id: Any) -> str | None:
    return object_id.split("_", 1)[0] if isinstance(object_id, str) and "_" in object_id else None
