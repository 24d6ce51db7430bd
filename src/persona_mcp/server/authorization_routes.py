"""The built-in authorization server's HTTP routes: the SDK's, on our provider, plus the consent page.

`create_auth_routes` serves RFC 8414 metadata, RFC 7591 registration (unless turned off), the
authorization endpoint (PKCE S256 only, exact redirect URIs), the token endpoint and RFC 7009
revocation. Registered clients may ask for any scope of the vocabulary; what they get is decided on the
consent page, bounded by the signing-in person's grant.
"""

from __future__ import annotations

from typing import Any

from mcp.server.auth.routes import create_auth_routes
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from pydantic import AnyHttpUrl

from persona_mcp.auth.grants import GrantStore
from persona_mcp.auth.oauth.provider import GrantBoundAuthorizationServer
from persona_mcp.auth.oauth.signin import SignInLimiter
from persona_mcp.auth.oauth.upstream import UpstreamProvider
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
    limiter = SignInLimiter(attempts=options.login_attempts, window_seconds=options.login_window_seconds)
    upstream = UpstreamProvider(options) if options.oidc_issuer and options.oidc_client_id else None
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
