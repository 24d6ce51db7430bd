"""Path safety: unsafe paths and IDs are refused before any request is made."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona_mcp.persona import (
    Exchange,
    InvalidIdError,
    ObjectKind,
    PersonaClient,
    UnsafePathError,
    check_path,
    validate_id,
)
from persona_mcp.persona.ids import PREFIXES
from persona_mcp.persona.paths import is_safe_path

from .conftest import FakePersona, ScriptedTransport

pytestmark = pytest.mark.anyio

_FORBIDDEN = ["..", "//", " ", "\t", "\n", "%", "?", "#", "\\", "\x00", "\x7f"]


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/act_1/../../admin",
        "/accounts//act_1",
        "/accounts/act 1",
        "/accounts/act_1\r\nX-Injected: 1",
        "/accounts/%2e%2e",
        "/accounts/act_1?page[size]=1",
        "/accounts/act_1#frag",
        "/accounts\\act_1",
        "/accounts/\x00",
        "/accounts/./act_1",
        "accounts/act_1",
        "/accounts/act_é",
        "",
    ],
)
async def test_an_unsafe_path_is_refused_before_anything_is_sent(
    client: PersonaClient,
    fake: FakePersona,
    transport: ScriptedTransport,
    exchanges: list[Exchange],
    path: str,
) -> None:
    with pytest.raises(UnsafePathError) as caught:
        await client.get(path)
    assert transport.requests == [] and fake.seen == []
    assert caught.value.attempts == 0 and caught.value.status is None
    assert exchanges == [
        Exchange("GET", "<refused>", None, None, 0, None, exchanges[0].elapsed_ms),
    ]
    if path.strip():
        assert path not in str(caught.value)


async def test_unsafe_paths_are_refused_for_every_method(
    client: PersonaClient, transport: ScriptedTransport
) -> None:
    with pytest.raises(UnsafePathError):
        await client.post("/accounts/../webhooks", json={})
    with pytest.raises(UnsafePathError):
        await client.patch("/accounts/act 1", json={})
    with pytest.raises(UnsafePathError):
        await client.delete("/accounts//x")
    with pytest.raises(UnsafePathError):
        await client.get_file("/inquiries/inq_1/print?x=1")
    with pytest.raises(UnsafePathError):
        client.paginate("/accounts/../x")
    assert transport.requests == []


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (ObjectKind.ACCOUNT, "act_1/../../x"),
        (ObjectKind.ACCOUNT, "../act_1"),
        (ObjectKind.ACCOUNT, "act_ 1"),
        (ObjectKind.ACCOUNT, "inq_abc"),  # wrong prefix
        (ObjectKind.INQUIRY, "act_abc"),
        (ObjectKind.LIST, "lst_a%2Fb"),
    ],
)
async def test_an_id_with_a_separator_dots_whitespace_or_the_wrong_prefix_never_becomes_a_request(
    client: PersonaClient, transport: ScriptedTransport, kind: ObjectKind, value: str
) -> None:
    with pytest.raises(InvalidIdError) as caught:
        await client.get(f"/accounts/{validate_id(kind, value)}")
    assert value not in str(caught.value)
    assert transport.requests == []


_ID_TOKEN = st.text(alphabet=st.characters(codec="ascii"), min_size=0, max_size=20)


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(list(ObjectKind)), prefix=st.text(max_size=8), token=_ID_TOKEN)
def test_any_id_validate_id_accepts_makes_a_safe_path(kind: ObjectKind, prefix: str, token: str) -> None:
    candidate = f"{prefix}_{token}"
    try:
        accepted = validate_id(kind, candidate)
    except InvalidIdError:
        return
    assert prefix in PREFIXES[kind]
    assert is_safe_path(f"/things/{accepted}")
    assert "/" not in accepted and ".." not in accepted


@settings(max_examples=500)
@given(kind=st.sampled_from(list(ObjectKind)), value=st.text(max_size=40))
def test_validate_id_accepts_only_prefix_underscore_alphanumerics(kind: ObjectKind, value: str) -> None:
    try:
        validate_id(kind, value)
    except InvalidIdError:
        return
    prefix, _, token = value.partition("_")
    assert prefix in PREFIXES[kind]
    assert token.isascii() and token.isalnum()


@settings(max_examples=1000)
@given(path=st.text(max_size=60).map(lambda s: "/" + s))
def test_check_path_never_accepts_a_forbidden_sequence(path: str) -> None:
    if not is_safe_path(path):
        with pytest.raises(UnsafePathError):
            check_path(path)
        return
    assert not any(bad in path for bad in _FORBIDDEN)
    assert path.isascii() and path.isprintable()
    assert all(segment not in (".", "..") for segment in path.split("/")[1:])


@settings(max_examples=300)
@given(
    segments=st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1), min_size=1),
    forbidden=st.sampled_from(_FORBIDDEN),
    where=st.integers(min_value=0),
)
def test_inserting_any_forbidden_sequence_into_a_good_path_is_refused(
    segments: list[str], forbidden: str, where: int
) -> None:
    path = "/" + "/".join(segments)
    assert is_safe_path(path)
    cut = 1 + where % len(path)
    assert not is_safe_path(path[:cut] + forbidden + path[cut:])
