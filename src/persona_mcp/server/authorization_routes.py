"""The built-in authorization server's HTTP routes: the SDK's, on our provider, plus the consent page.

`create_auth_routes` serves RFC 8414 metadata, RFC 7591 registration (unless turned off), the
authorization endpoint (PKCE S256 only, exact redirect URIs), the token endpoint and RFC 7009
revocation. Registered clients may ask for any scope of the vocabulary; what they get is decided on the
consent page, bounded by the signing-in person's grant.

One adjustment to the SDK's revocation endpoint: a public client revokes with its `client_id` alone
(RFC 7009 section 2.1, RFC 6749 section 2.3.1), but the SDK's request model requires a `client_secret`
field and answers such a request 400. `PublicClientRevocation` adds an empty one to a form without it;
the SDK still authenticates the client as registered (a confidential client without its secret is
still refused).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from mcp.server.auth.routes import REVOCATION_PATH, create_auth_routes
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from pydantic import AnyHttpUrl
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from persona_mcp.auth.grants import GrantStore
from persona_mcp.auth.oauth.provider import GrantBoundAuthorizationServer
from persona_mcp.auth.oauth.signin import SignInLimiter
from persona_mcp.auth.scopes import Scope
from persona_mcp.config import Settings
from persona_mcp.server.consent import ConsentPages


def authorization_routes(
    provider: GrantBoundAuthorizationServer, grants: GrantStore, *, issuer: str, settings: Settings
) -> list[Any]:
    vocabulary = [scope.value for scope in Scope]
    options = settings.authorization
    routes: list[Any] = list(
        create_auth_routes(
            provider,
            issuer_url=AnyHttpUrl(issuer),
            client_registration_options=ClientRegistrationOptions(
                enabled=options.registration_enabled, valid_scopes=vocabulary, default_scopes=vocabulary
            ),
            revocation_options=RevocationOptions(enabled=True),
        )
    )
    for index, route in enumerate(routes):
        if isinstance(route, Route) and route.path == REVOCATION_PATH:
            routes[index] = Route(
                REVOCATION_PATH, endpoint=PublicClientRevocation(route.app), methods=list(route.methods or ())
            )
    limiter = SignInLimiter(attempts=options.login_attempts, window_seconds=options.login_window_seconds)
    upstream = None
    if options.oidc_issuer and options.oidc_client_id:
        from persona_mcp.auth.oauth.upstream import UpstreamProvider  # joserfc: upstream sign-in only

        upstream = UpstreamProvider(options)
    pages = ConsentPages(
        provider,
        grants,
        issuer=issuer,
        limiter=limiter,
        upstream=upstream,
        upstream_environment=options.oidc_environment,
    )
    routes.extend(pages.routes())
    return routes


#: A revocation form is a token, a hint and a client id; a larger body is passed on untouched (the
#: SDK's own body limit then applies).
_REVOCATION_FORM_LIMIT = 8192


class PublicClientRevocation:
    """Adds `client_secret=` to a url-encoded revocation form that lacks it (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or kind != b"application/x-www-form-urlencoded"
        ):
            await self.app(scope, receive, send)
            return
        read: list[Message] = []
        size = 0
        more = True
        while more and size <= _REVOCATION_FORM_LIMIT:
            message = await receive()
            read.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            more = bool(message.get("more_body", False))
        if more or size > _REVOCATION_FORM_LIMIT or any(m["type"] != "http.request" for m in read):
            await self.app(scope, _replay(read, receive), send)
            return
        body = b"".join(m.get("body", b"") for m in read)
        fields = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
        if all(name != "client_secret" for name, _ in fields):
            body += b"&client_secret=" if body else b"client_secret="
        rewritten = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        rewritten.append((b"content-length", str(len(body)).encode()))
        await self.app(
            {**scope, "headers": rewritten},
            _replay([{"type": "http.request", "body": body, "more_body": False}], receive),
            send,
        )


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
