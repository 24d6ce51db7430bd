"""An upstream answer that does not fit a result model fails as UnexpectedResponseError, in our words.

pydantic's ValidationError text repeats the values it refused; those come from Persona and may be personal
data, so they must not reach the error the server logs and explains.
"""

from __future__ import annotations

import pytest

from persona_mcp.persona.errors import UnexpectedResponseError

from .conftest import Upstream

pytestmark = pytest.mark.anyio

SECRET = "jane.secret@example.com"


async def _tampered_account(u: Upstream) -> str:
    """An account whose reference id Persona (here, the sandbox) renders as an object, not a string."""
    account_id = (await u.call("list_accounts", page_size=1)).items[0].id
    u.state.records[account_id].attributes["reference-id"] = {"email": SECRET}
    return account_id


def _assert_ours(error: UnexpectedResponseError) -> None:
    assert SECRET not in str(error) and SECRET not in repr(error)
    assert error.status == 200 and "does not fit" in str(error)
    assert error.__cause__ is None and error.__suppress_context__


async def test_one_object_of_an_unexpected_shape_fails_without_its_values(upstream: Upstream) -> None:
    account_id = await _tampered_account(upstream)
    with pytest.raises(UnexpectedResponseError) as raised:
        await upstream.call("get_account", account_id=account_id)
    _assert_ours(raised.value)


async def test_a_page_with_an_unexpected_item_fails_without_its_values(upstream: Upstream) -> None:
    await _tampered_account(upstream)
    with pytest.raises(UnexpectedResponseError) as raised:
        await upstream.call("list_accounts", page_size=100)
    _assert_ours(raised.value)
