"""DNS-rebinding protection for every route: only the Host and Origin this server is known by are served.

A page on a domain that an attacker re-resolves to this server's address reaches it with
`Host: evil.example` (and `Origin: http://evil.example`); refusing both on every route, `/healthz` and the
metadata included, keeps such a page from using the server through a victim's browser whatever address it
is bound to. The names allowed come from the public URL (the token audience) unless configured, and
loopback is always allowed so that local clients and health probes keep working.

The patterns are the MCP SDK's (`TransportSecuritySettings`: exact values, or `name:*` for any port), and
the same settings go to the SDK's own check on `/mcp`. The matching is done here rather than with the SDK's
`TransportSecurityMiddleware`, which logs every refused request at WARNING with the attacker's header
values: a rebinding page could fill the log at will. Refusals here are not logged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import urlsplit

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_and_port(url: str) -> tuple[str, str, int, int]:
    """(scheme, bracketed lowercase host, port, default port of the scheme) of an absolute URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"public URL must be an absolute http(s) URL, got {url!r}")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = _DEFAULT_PORTS[scheme]
    return scheme, host, parts.port or default, default


def derived_hosts(public_url: str) -> list[str]:
    """The Host values a client of `public_url` sends (with the default port spelled out or not)."""
    _scheme, host, port, default = _host_and_port(public_url)
    return [host, f"{host}:{port}"] if port == default else [f"{host}:{port}"]


def derived_origins(public_url: str) -> list[str]:
    """The Origin values of a page served from `public_url`'s origin."""
    scheme, host, port, default = _host_and_port(public_url)
    base = f"{scheme}://{host}"
    return [base, f"{base}:{port}"] if port == default else [f"{base}:{port}"]


def allowed_headers(
    public_url: str, *, hosts: Sequence[str] = (), origins: Sequence[str] = ()
) -> TransportSecuritySettings:
    """What the guard accepts: the configured lists (or those derived from `public_url`) plus loopback."""
    loopback_hosts = [pattern for host in LOOPBACK_HOSTS for pattern in (host, f"{host}:*")]
    loopback_origins = [
        pattern
        for scheme in ("http", "https")
        for host in LOOPBACK_HOSTS
        for pattern in (f"{scheme}://{host}", f"{scheme}://{host}:*")
    ]
    chosen_hosts = [h.strip().lower() for h in hosts if h.strip()] or derived_hosts(public_url)
    chosen_origins = [o.strip().lower().rstrip("/") for o in origins if o.strip()] or derived_origins(
        public_url
    )
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(dict.fromkeys([*chosen_hosts, *loopback_hosts])),
        allowed_origins=list(dict.fromkeys([*chosen_origins, *loopback_origins])),
    )


_REFUSALS = {
    421: (
        "invalid_host",
        "This server is not served under the name in the Host header. An operator can allow a name with "
        "`serve --allowed-host` or PERSONA_MCP_HTTP_ALLOWED_HOSTS (default: the host of --public-url).",
    ),
    403: (
        "invalid_origin",
        "Requests from this Origin are not served. An operator can allow an origin with "
        "`serve --allowed-origin` or PERSONA_MCP_HTTP_ALLOWED_ORIGINS (default: the origin of --public-url).",
    ),
}


def matches(value: str, patterns: Sequence[str]) -> bool:
    """Whether a Host or Origin value, as sent, is one of `patterns` (`name:*`: that name, any port)."""
    for pattern in patterns:
        if pattern.endswith(":*"):
            prefix = pattern[:-1]
            if value.startswith(prefix) and value[len(prefix) :].isdigit():
                return True
        elif value == pattern:
            return True
    return False


class RebindingGuard:
    """ASGI middleware refusing HTTP requests whose Host (421) or Origin (403) header is not allowed.

    A request without Host is refused; one without Origin (not from a browser page, or same-origin) is not.
    """

    def __init__(self, app: ASGIApp, *, settings: TransportSecuritySettings) -> None:
        self._app = app
        self._hosts = [host.lower() for host in settings.allowed_hosts]
        self._origins = [origin.lower() for origin in settings.allowed_origins]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if not matches(headers.get("host", ""), self._hosts):
            await _refuse(send, 421)
        elif origin is not None and not matches(origin, self._origins):
            await _refuse(send, 403)
        else:
            await self._app(scope, receive, send)


async def _refuse(send: Send, status: int) -> None:
    error, description = _REFUSALS[status]
    body = json.dumps({"error": error, "error_description": description}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
