"""The error hierarchy: class by status, and messages built only from trusted parts."""

from __future__ import annotations

import pickle

import pytest

from persona_mcp.persona import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PersonaClient,
    PersonaError,
    RateLimitedError,
    ServerError,
    UnexpectedResponseError,
    UnprocessableEntityError,
    UpstreamUnavailableError,
    error_for_status,
)
from persona_mcp.persona.errors import ErrorDetail, parse_error_details

from .conftest import FakePersona, Reply

pytestmark = pytest.mark.anyio

_PII = "jane.doe@example.com"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitedError),
        (500, ServerError),
        (503, ServerError),
        (None, UpstreamUnavailableError),
        (302, UnexpectedResponseError),
    ],
)
def test_the_error_class_is_chosen_by_status(status: int | None, cls: type[PersonaError]) -> None:
    error = error_for_status(status)
    assert type(error) is cls and isinstance(error, PersonaError)


def test_an_unlisted_4xx_is_a_plain_persona_error() -> None:
    assert type(error_for_status(408)) is PersonaError


def test_upstream_free_text_never_reaches_the_message() -> None:
    details = parse_error_details(
        {
            "errors": [
                {
                    "title": f"Account {_PII} already exists",
                    "details": f"reference {_PII} is taken",
                    "source": {"pointer": f"/data/attributes/{_PII}"},
                }
            ]
        }
    )
    error = error_for_status(409, errors=details, request_id=f"req_1 {_PII}")
    text = f"{error} {error!r} {error.args}"
    assert _PII not in text
    assert str(error) == "ConflictError: HTTP 409 Conflict; 1 attempt"
    assert error.errors[0].details == f"reference {_PII} is taken"  # still there for code that filters


def test_a_known_safe_title_and_a_well_formed_pointer_are_shown() -> None:
    details = parse_error_details(
        {
            "errors": [
                {
                    "title": "unprocessable ENTITY",
                    "details": "Selected country code invalid selected country code of ZX",
                    "source": {"pointer": "/data/attributes/selected-country-code"},
                }
            ]
        }
    )
    error = error_for_status(422, errors=details, request_id="req_ABC123", attempts=2)
    assert str(error) == (
        "UnprocessableEntityError: HTTP 422 Unprocessable entity; "
        "fields /data/attributes/selected-country-code; request id req_ABC123; 2 attempts"
    )
    assert error.field_pointers == ["/data/attributes/selected-country-code"]
    assert "ZX" not in str(error)


def test_malformed_error_bodies_give_no_details_instead_of_failing() -> None:
    assert parse_error_details("oops") == []
    assert parse_error_details({"errors": "nope"}) == []
    assert parse_error_details({"errors": [1, None, {"title": 5, "code": 12}]}) == [ErrorDetail(code="12")]


def test_retry_safety_depends_on_status_and_method() -> None:
    assert error_for_status(429, method="POST").retry_safe is True
    assert error_for_status(503, method="GET").retry_safe is True
    assert error_for_status(503, method="POST").retry_safe is False
    assert error_for_status(None, method="DELETE").retry_safe is True
    assert error_for_status(422, method="GET").retry_safe is False


def test_a_write_that_may_have_been_applied_is_never_safe_to_repeat_whatever_its_last_status() -> None:
    assert error_for_status(429, method="POST", maybe_applied=True).retry_safe is False
    assert error_for_status(429, method="POST", maybe_applied=True, retry_safe=True).retry_safe is False
    assert error_for_status(None, method="POST", maybe_applied=False).retry_safe is True
    assert error_for_status(429, method="DELETE", maybe_applied=True).retry_safe is True


def test_without_an_attempt_history_the_status_decides_whether_it_may_have_been_applied() -> None:
    assert error_for_status(503).maybe_applied and error_for_status(None).maybe_applied
    assert not error_for_status(429).maybe_applied and not error_for_status(422).maybe_applied
    assert not error_for_status(None, attempts=0).maybe_applied, "nothing sent, nothing applied"


def test_errors_survive_pickling_with_their_fields() -> None:
    error = error_for_status(
        422, errors=[ErrorDetail(title="Record invalid")], request_id="req_1", attempts=3, retry_after=2.0
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is UnprocessableEntityError
    assert (copy.status, copy.request_id, copy.attempts, copy.retry_after) == (422, "req_1", 3, 2.0)
    assert str(copy) == str(error)


async def test_a_422_surfaces_personas_field_errors_with_source_pointers(
    client: PersonaClient, fake: FakePersona
) -> None:
    fake.then(
        Reply(
            422,
            {
                "errors": [
                    {
                        "title": "Record invalid",
                        "details": "is missing",
                        "source": {"pointer": "/data/attributes/name"},
                    },
                    {
                        "title": "Record invalid",
                        "details": "bad",
                        "source": {"pointer": "/data/attributes/birthdate"},
                    },
                ]
            },
        )
    )
    with pytest.raises(UnprocessableEntityError) as caught:
        await client.post("/accounts", json={"data": {"attributes": {"name": "x"}}})
    error = caught.value
    assert [d.source_pointer for d in error.errors] == ["/data/attributes/name", "/data/attributes/birthdate"]
    assert error.field_pointers == ["/data/attributes/name", "/data/attributes/birthdate"]
    assert error.request_id == "req_fake1" and error.attempts == 1
    assert len(fake.seen) == 1


async def test_a_2xx_body_that_is_not_json_api_is_an_unexpected_response(
    client: PersonaClient, fake: FakePersona
) -> None:
    fake.then(Reply(200, {"data": {"type": "account"}}))  # no id
    with pytest.raises(UnexpectedResponseError) as caught:
        await client.get("/accounts/act_1")
    assert caught.value.status == 200 and caught.value.exchange is not None
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_an_empty_2xx_body_is_a_document_without_data(client: PersonaClient, fake: FakePersona) -> None:
    fake.then(Reply(204))
    response = await client.delete("/lists/lst_1")
    assert response.status == 204 and response.document.data is None
