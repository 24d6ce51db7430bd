"""Issue 11, case 4: DNS-rebinding protection on every bind address and every route.

Bound to 0.0.0.0 (as the Dockerfile does), `Host: evil.com` and `Origin: http://evil.com` used to be
served. Now only the public URL's host and origin (or the configured ones) and loopback are, on `/mcp`,
`/healthz` and the metadata alike; `/healthz` shows the version and instance id only to local or
authenticated callers.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from _http_server import ACCEPT, INITIALIZE, bearer, http_server

import persona_mcp
from persona_mcp.config import HttpSettings
from persona_mcp.sandbox.transport import SandboxTransport
from persona_mcp.server.app import open_server
from persona_mcp.server.rebinding import allowed_headers, matches
from persona_mcp.server.run import http_app_for
from persona_mcp.testing import issue_grant, sandbox_app, sandbox_settings

pytestmark = pytest.mark.anyio

PUBLIC_URL = "https://mcp.example.com/mcp"
ROUTES = ["/healthz", "/mcp", "/.well-known/oauth-protected-resource/mcp"]


async def test_a_foreign_host_is_refused_on_every_route_when_bound_to_all_addresses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with http_server(tmp_path, public_url=PUBLIC_URL, bind="0.0.0.0") as running:
        token = await issue_grant(running.app, ["accounts:read"])
        async with httpx2.AsyncClient(base_url=running.base, timeout=30) as http:
            for route in ROUTES:
                refused = await http.get(route, headers={"Host": "evil.com"})
                assert refused.status_code == 421, route
                assert refused.json()["error"] == "invalid_host"
                assert "--allowed-host" in refused.json()["error_description"]
            call = await http.post(
                "/mcp", json=INITIALIZE, headers={**ACCEPT, **bearer(token), "Host": "evil.com"}
            )
            assert call.status_code == 421
    assert "evil.com" not in caplog.text, "refusals are not logged: a rebinding page could fill the log"


async def test_a_foreign_origin_is_refused_on_every_route_when_bound_to_all_addresses(tmp_path: Path) -> None:
    async with http_server(tmp_path, public_url=PUBLIC_URL, bind="0.0.0.0") as running:
        token = await issue_grant(running.app, ["accounts:read"])
        evil = {"Host": "mcp.example.com", "Origin": "http://evil.com"}
        async with httpx2.AsyncClient(base_url=running.base, timeout=30) as http:
            for route in ROUTES:
                refused = await http.get(route, headers=evil)
                assert refused.status_code == 403, route
                assert refused.json()["error"] == "invalid_origin"
            call = await http.post("/mcp", json=INITIALIZE, headers={**ACCEPT, **bearer(token), **evil})
            assert call.status_code == 403


async def test_the_public_urls_host_and_origin_and_loopback_are_served(tmp_path: Path) -> None:
    async with http_server(tmp_path, public_url=PUBLIC_URL, bind="0.0.0.0") as running:
        token = await issue_grant(running.app, ["accounts:read"])
        async with httpx2.AsyncClient(base_url=running.base, timeout=30) as http:
            for host in ("mcp.example.com", "mcp.example.com:443"):
                same_origin = {"Host": host, "Origin": "https://mcp.example.com"}
                assert (await http.get("/healthz", headers=same_origin)).status_code == 200
                opened = await http.post(
                    "/mcp", json=INITIALIZE, headers={**ACCEPT, **bearer(token), **same_origin}
                )
                assert opened.status_code == 200
            loopback = {"Origin": "http://localhost:6274"}  # e.g. a local MCP inspector
            assert (await http.get("/healthz", headers=loopback)).status_code == 200
            assert (await http.get("/healthz", headers={"Host": "mcp.example.com:8443"})).status_code == 421


async def test_configured_hosts_and_origins_replace_the_derived_ones(tmp_path: Path) -> None:
    limits = HttpSettings(allowed_hosts=["proxy.internal:8443"], allowed_origins=["https://app.example"])
    async with http_server(tmp_path, http=limits, public_url=PUBLIC_URL, bind="0.0.0.0") as running:
        async with httpx2.AsyncClient(base_url=running.base, timeout=30) as http:
            allowed = {"Host": "proxy.internal:8443", "Origin": "https://app.example"}
            assert (await http.get("/healthz", headers=allowed)).status_code == 200
            assert (await http.get("/healthz", headers={"Host": "mcp.example.com"})).status_code == 421
            foreign = {"Host": "proxy.internal:8443", "Origin": "https://mcp.example.com"}
            assert (await http.get("/healthz", headers=foreign)).status_code == 403


def test_allowed_values_are_derived_from_the_public_url() -> None:
    derived = allowed_headers("http://[2001:db8::1]:8080/mcp")
    assert "[2001:db8::1]:8080" in derived.allowed_hosts
    assert "http://[2001:db8::1]:8080" in derived.allowed_origins
    assert "[2001:db8::1]" not in derived.allowed_hosts, "another port is another server"
    assert {"127.0.0.1:*", "localhost:*", "[::1]:*"} <= set(derived.allowed_hosts)
    assert "evil.com" not in allowed_headers("https://MCP.Example.com/mcp").allowed_hosts
    assert "mcp.example.com" in allowed_headers("https://MCP.Example.com/mcp").allowed_hosts


def test_a_wildcard_port_matches_only_a_port() -> None:
    patterns = ["127.0.0.1:*", "mcp.example.com"]
    assert matches("127.0.0.1:8000", patterns) and matches("mcp.example.com", patterns)
    assert not matches("127.0.0.1:8000.evil.com", patterns)
    assert not matches("127.0.0.1.evil.com:80", patterns)
    assert not matches("mcp.example.com.evil.com", patterns)
    assert not matches("", patterns)


def test_hosts_and_origins_can_be_configured_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONA_MCP_HTTP_ALLOWED_HOSTS", "a.example, b.example:8443")
    monkeypatch.setenv("PERSONA_MCP_HTTP_ALLOWED_ORIGINS", '["https://a.example"]')
    settings = HttpSettings()
    assert settings.allowed_hosts == ["a.example", "b.example:8443"]
    assert settings.allowed_origins == ["https://a.example"]


async def test_healthz_shows_version_and_instance_only_to_local_or_authenticated_callers(
    tmp_path: Path,
) -> None:
    settings = sandbox_settings(tmp_path)
    resource = "http://127.0.0.1:8000/mcp"
    async with open_server(
        settings, transport="http", resource_url=resource, persona_transport=SandboxTransport(sandbox_app())
    ) as app:
        token = await issue_grant(app, ["accounts:read"])
        asgi = http_app_for(app, settings, resource, "0.0.0.0")

        async def health(client: tuple[str, int], headers: dict[str, str] | None = None) -> dict[str, object]:
            transport = httpx2.ASGITransport(app=asgi, client=client)
            async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
                response = await http.get("/healthz", headers=headers)
            assert response.status_code == 200
            report: dict[str, object] = response.json()
            return report

        remote = ("203.0.113.7", 40000)
        anonymous = await health(remote)
        assert anonymous["status"] == "ok"
        assert not {"version", "instance", "sessions"} & anonymous.keys(), anonymous
        relayed = await health(("127.0.0.1", 40000), {"X-Forwarded-For": "203.0.113.7"})
        assert not {"version", "instance"} & relayed.keys(), "a local proxy relaying a remote caller"
        for report in (await health(remote, bearer(token)), await health(("127.0.0.1", 40000))):
            assert report["version"] == persona_mcp.__version__
            assert report["instance"] == app.instance_id
