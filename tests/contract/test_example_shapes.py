"""(b) For every documented tier-1 example, the sandbox's answer has the example's shape (see _shape)."""

from __future__ import annotations

from typing import Any

import pytest

from . import _contract, _shape
from ._scenarios import SCENARIOS, Ctx

pytestmark = pytest.mark.anyio

DOCUMENTED = [op_id for op_id in _contract.tier1() if _contract.tier1()[op_id].get("example")]


def _known_keys() -> dict[tuple[str, str], set[str]]:
    examples: list[dict[str, Any]] = [
        e for op_id in DOCUMENTED if (e := _contract.example(op_id)) is not None
    ]
    return _shape.documented_keys(examples)


def test_every_documented_example_is_compared() -> None:
    assert len(DOCUMENTED) == 93


def test_the_shape_check_catches_a_changed_value_type() -> None:
    example = {"data": {"type": "account", "id": "act_x", "attributes": {"tags": ["a"], "created-at": "t"}}}
    answer = {"data": {"type": "account", "id": "act_y", "attributes": {"tags": "a", "created-at": "t"}}}
    assert _shape.differences(example, answer, {}) == [
        "account.attributes.tags: example has list, answer has str"
    ]


def test_the_shape_check_catches_a_missing_key_and_a_wrong_prefix() -> None:
    example = {"data": {"type": "account", "id": "act_x", "attributes": {"tags": []}}}
    assert _shape.differences(example, {"data": {"type": "account", "id": "act_y", "attributes": {}}}, {})
    assert _shape.differences(
        example, {"data": {"type": "account", "id": "inq_y", "attributes": {"tags": []}}}, {}
    )


@pytest.mark.parametrize("op_id", DOCUMENTED)
async def test_the_answer_has_the_documented_shape(ctx: Ctx, op_id: str) -> None:
    example = _contract.example(op_id)
    assert example is not None
    response = await SCENARIOS[op_id](ctx)
    assert response.is_success, response.text
    answer = response.json()

    problems = _shape.differences(example, answer, _known_keys())

    assert not problems, "\n".join(problems[:10])
