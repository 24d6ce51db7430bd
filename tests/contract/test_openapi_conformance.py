"""(a) Every tier-1 operation answers a valid request with a body that Persona's OpenAPI schema accepts."""

from __future__ import annotations

import pytest

from . import _contract
from ._scenarios import SCENARIOS, Ctx

pytestmark = pytest.mark.anyio

TIER1 = list(_contract.tier1())
#: In the docs but not in the public spec (withdrawn from GitHub): validated against the inquiry schema.
_SCHEMA_STAND_INS = {"inquiries.set_simulate_stubs": ("GET", "/inquiries/{inquiry-id}")}


def test_every_tier1_operation_has_a_scenario() -> None:
    assert len(TIER1) == 94
    assert set(SCENARIOS) == set(TIER1)


@pytest.mark.parametrize("op_id", TIER1)
async def test_the_answer_matches_the_openapi_response_schema(ctx: Ctx, op_id: str) -> None:
    operation = _contract.tier1()[op_id]
    response = await SCENARIOS[op_id](ctx)

    assert response.status_code in operation["response"]["status"], response.text
    method, path = _SCHEMA_STAND_INS.get(op_id, (operation["method"], operation["path"]))
    declared = _contract.response_schema(method, path)
    assert declared is not None, f"no success response declared for {method} {path}"
    content_type, schema = declared
    assert response.headers["content-type"].split(";")[0] == content_type
    if content_type == "application/pdf":
        assert response.content.startswith(b"%PDF-")
        assert response.content.rstrip().endswith(b"%%EOF")
        return
    errors = sorted(
        _contract.validator(schema).iter_errors(response.json()), key=lambda e: list(e.absolute_path)
    )
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5])
