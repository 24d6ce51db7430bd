"""The default transport to Persona: which one the environment gets, and errors in httpx2's terms."""

from __future__ import annotations

import socket

import anyio
import httpx2
import pytest

from persona_mcp.persona.transport import PersonaTransport, persona_transport

PERSONA = "https://api.withpersona.com/api/v1"
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*_PROXY_VARIABLES, "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_without_a_proxy_in_the_environment_requests_go_through_the_lean_pool() -> None:
    assert isinstance(persona_transport(PERSONA), PersonaTransport)


def test_a_proxy_named_by_the_environment_gets_httpx2s_proxy_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    transport = persona_transport(PERSONA)
    assert isinstance(transport, httpx2.AsyncHTTPTransport)
    assert not isinstance(transport, PersonaTransport)


def test_a_host_listed_in_no_proxy_bypasses_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "api.withpersona.com")
    assert isinstance(persona_transport(PERSONA), PersonaTransport)


@pytest.mark.anyio
async def test_a_refused_connection_is_httpx2s_connect_error_the_attempt_rules_know_as_not_sent() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connecting is refused
        transport = PersonaTransport()
        with anyio.fail_after(10), pytest.raises(httpx2.ConnectError):
            await transport.handle_async_request(
                httpx2.Request("GET", f"http://127.0.0.1:{port}/api/v1/accounts")
            )
        await transport.aclose()
