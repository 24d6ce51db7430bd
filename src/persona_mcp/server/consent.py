"""The consent page of the built-in authorization server: sign in with a grant token, then allow or deny.

Server-rendered HTML (Jinja2, autoescaped: a client's name and every other caller-chosen value is
escaped), no JavaScript. Two steps on one URL, each a form carrying the pending request's handle and a
CSRF token that must equal the page's strict HttpOnly cookie and the digest stored with the request; a
POST without it changes nothing. Every page says `frame-ancestors 'none'` (no clickjacking of the Allow
button), is never cached, and sends no referrer beyond this server. The only URL that ever carries a code
is the redirect back to the client, which also carries the client's `state` and this server's issuer
(RFC 9207).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import structlog
from mcp.server.auth.provider import construct_redirect_uri
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from persona_mcp.auth import tokens as grant_tokens
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import Grant
from persona_mcp.auth.grants import GrantStore, utcnow
from persona_mcp.auth.oauth.clients import record_event
from persona_mcp.auth.oauth.consent import NEEDS_TICK, PendingAuthorization, offer_for
from persona_mcp.auth.oauth.provider import CONSENT_PATH, GrantBoundAuthorizationServer
from persona_mcp.auth.oauth.signin import SignInLimiter
from persona_mcp.auth.scopes import DESCRIPTIONS

if TYPE_CHECKING:
    import jinja2

    # joserfc comes with it: loaded only where an upstream sign-in is configured (authorization_routes).
    from persona_mcp.auth.oauth.upstream import UpstreamProvider

log = structlog.get_logger(__name__)

CSRF_COOKIE = "pmcp_consent_csrf"
#: The upstream sign-in's request handle and PKCE verifier, for the provider's redirect back (Lax: that
#: redirect is a cross-site top-level navigation, which a Strict cookie would not come back with).
UPSTREAM_COOKIE = "pmcp_consent_upstream"
UPSTREAM_PATH = f"{CONSENT_PATH}/upstream"


@functools.cache
def _templates() -> jinja2.Environment:
    """Loaded with the first page served: a server nobody signs in to never imports Jinja2 (issue 18)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("persona_mcp.server", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    )


@dataclass(frozen=True, slots=True)
class _ClientView:
    client_id: str
    name: str
    redirect_uri: str


class ConsentPages:
    """The GET and POST handlers of `CONSENT_PATH`."""

    def __init__(
        self,
        provider: GrantBoundAuthorizationServer,
        grants: GrantStore,
        *,
        issuer: str,
        limiter: SignInLimiter,
        upstream: UpstreamProvider | None = None,
        upstream_environment: Environment | None = None,
    ) -> None:
        self._provider = provider
        self._grants = grants
        self._issuer = issuer
        self._limiter = limiter
        self._upstream = upstream
        self._upstream_environment = upstream_environment
        self._callback = issuer.rstrip("/") + UPSTREAM_PATH

    def routes(self) -> list[Route]:
        routes = [Route(CONSENT_PATH, endpoint=self.handle, methods=["GET", "POST"])]
        if self._upstream is not None:
            routes.append(Route(UPSTREAM_PATH, endpoint=self._upstream_callback, methods=["GET"]))
        return routes

    async def handle(self, request: Request) -> Response:
        if request.method == "GET":
            return await self._show(request)
        return await self._answer(request)

    # -- GET: the sign-in step ------------------------------------------------------------------------

    async def _show(self, request: Request) -> Response:
        pending = await self._provider.pending.load(request.query_params.get("request"))
        if pending is None:
            return _message("Request expired", _EXPIRED, 400)
        client = await self._client_view(pending)
        if client is None:
            return _message("Application not available", "This application's registration was revoked.", 400)
        csrf = await self._provider.pending.new_csrf(pending)
        return self._sign_in(request, pending, client, csrf, handle=request.query_params["request"])

    # -- POST: sign in, then decide -------------------------------------------------------------------

    async def _answer(self, request: Request) -> Response:
        form = await request.form()
        handle = _text(form, "request")
        pending = await self._provider.pending.load(handle)
        if pending is None or handle is None:
            return _message("Request expired", _EXPIRED, 400)
        csrf = _text(form, "csrf")
        cookie = request.cookies.get(CSRF_COOKIE)
        if csrf is None or cookie is None or csrf != cookie or not pending.csrf_matches(csrf):
            log.info("oauth.consent_csrf_refused", client_id=pending.client_id)
            return _message(
                "Form not accepted",
                "The form could not be verified (missing or stale CSRF token). Go back to the application "
                "and start the sign-in again.",
                403,
            )
        client = await self._client_view(pending)
        if client is None:
            return _message("Application not available", "This application's registration was revoked.", 400)
        step = _text(form, "step")
        if step == "sign_in":
            return await self._sign_in_answer(request, pending, client, handle, _text(form, "grant_token"))
        if step == "upstream" and self._upstream is not None:
            return await self._upstream_start(request, pending, handle)
        if step == "decide":
            return await self._decide(pending, client, _text(form, "decision"), form.getlist("scope"))
        return _message("Form not accepted", "Unknown step.", 400)

    async def _sign_in_answer(
        self,
        request: Request,
        pending: PendingAuthorization,
        client: _ClientView,
        handle: str,
        token: str | None,
    ) -> Response:
        address = request.client.host if request.client is not None else "unknown"
        wait = self._limiter.retry_after(address)
        if wait is not None:
            log.warning("oauth.sign_in_limited", client_id=pending.client_id)
            response = _message(
                "Too many attempts", "Too many failed sign-ins from this address. Try again later.", 429
            )
            response.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
            return response
        grant = await self._authenticate(token)
        if grant is None:
            named, _ = await self._grants.named_by(token) if token else (None, False)
            return await self._sign_in_failed(request, pending, client, handle, named)
        return await self._consent_page(request, pending, client, handle, grant)

    async def _consent_page(
        self, request: Request, pending: PendingAuthorization, client: _ClientView, handle: str, grant: Grant
    ) -> Response:
        csrf = await self._provider.pending.new_csrf(pending, grant_id=grant.id)
        offer = offer_for(pending.requested_scopes, grant)
        context = {
            "title": f"Allow {client.name}?",
            "step": "consent",
            "client": client,
            "environment": grant.environment.value,
            "person": grant.principal,
            "grant_id": grant.id,
            "offered": [
                {
                    "name": scope.value,
                    "description": DESCRIPTIONS[scope],
                    "preticked": offer.preticked(scope),
                    "needs_tick": scope in NEEDS_TICK,
                }
                for scope in offer.offered
            ],
            "withheld": offer.withheld,
            "handle": handle,
            "csrf": csrf,
            "action": CONSENT_PATH,
        }
        return _page(
            context, 200, csrf=csrf, secure=request.url.scheme == "https", redirect=client.redirect_uri
        )

    async def _sign_in_failed(
        self,
        request: Request,
        pending: PendingAuthorization,
        client: _ClientView,
        handle: str,
        named: Grant | None,
    ) -> Response:
        address = request.client.host if request.client is not None else "unknown"
        self._limiter.failed(address)
        await record_event(
            self._provider.events,
            "oauth.sign_in_failed",
            actor="anonymous",
            target=pending.client_id,
            details={"client_id": pending.client_id, "grant_id": named.id if named else None},
        )
        csrf = await self._provider.pending.new_csrf(pending)
        return self._sign_in(
            request,
            pending,
            client,
            csrf,
            handle=handle,
            error="Sign-in failed: that grant token is unknown, revoked or expired.",
            status=401,
        )

    # -- the upstream OpenID Connect sign-in ---------------------------------------------------------

    async def _upstream_start(self, request: Request, pending: PendingAuthorization, handle: str) -> Response:
        from persona_mcp.auth.oauth.upstream import UpstreamSignInError  # loaded with `self._upstream`

        assert self._upstream is not None
        try:
            start = await self._upstream.start(self._callback)
        except UpstreamSignInError as exc:
            return _message("Sign-in not available", str(exc), 502)
        await self._provider.pending.expect_upstream(pending, start.state)
        response = RedirectResponse(start.url, status_code=303, headers=_HEADERS)
        response.set_cookie(
            UPSTREAM_COOKIE,
            f"{handle}.{start.verifier}",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path=UPSTREAM_PATH,
            max_age=600,
        )
        return response

    async def _upstream_callback(self, request: Request) -> Response:
        from persona_mcp.auth.oauth.upstream import UpstreamSignInError  # loaded with `self._upstream`

        assert self._upstream is not None
        handle, _, verifier = (request.cookies.get(UPSTREAM_COOKIE) or "").partition(".")
        pending = await self._provider.pending.load(handle)
        if pending is None or not verifier:
            return _message("Request expired", _EXPIRED, 400)
        if not pending.upstream_state_matches(request.query_params.get("state")):
            return _message("Sign-in not accepted", "The identity provider's answer does not match.", 403)
        client = await self._client_view(pending)
        if client is None:
            return _message("Application not available", "This application's registration was revoked.", 400)
        address = request.client.host if request.client is not None else "unknown"
        wait = self._limiter.retry_after(address)
        if wait is not None:
            return _message("Too many attempts", "Too many failed sign-ins from this address.", 429)
        code = request.query_params.get("code")
        if not code:
            return await self._sign_in_failed(request, pending, client, handle, None)
        try:
            principal = await self._upstream.finish(self._callback, code, verifier)
        except UpstreamSignInError as exc:
            log.info("oauth.upstream_sign_in_failed", reason=str(exc))
            return await self._sign_in_failed(request, pending, client, handle, None)
        grants = await self._grants.live_for_principal(principal, environment=self._upstream_environment)
        if len(grants) != 1:
            log.info("oauth.upstream_sign_in_failed", reason="no single live grant", grants=len(grants))
            return await self._sign_in_failed(request, pending, client, handle, None)
        response = await self._consent_page(request, pending, client, handle, grants[0])
        response.delete_cookie(UPSTREAM_COOKIE, path=UPSTREAM_PATH)
        return response

    async def _decide(
        self, pending: PendingAuthorization, client: _ClientView, decision: str | None, ticked: list[Any]
    ) -> Response:
        if pending.grant_id is None:
            return _message("Form not accepted", "Sign in first.", 400)
        grant = await self._grants.get(pending.grant_id)
        if grant is None or not grant.is_live(utcnow()):
            return _message("Grant not live", "Your grant was revoked or has expired.", 403)
        if not await self._provider.pending.finish(pending):
            return _message("Request expired", _EXPIRED, 400)
        offer = offer_for(pending.requested_scopes, grant)
        scopes = offer.granted(str(name) for name in ticked if isinstance(name, str))
        if decision != "allow" or not scopes:
            reason = "denied by the person" if decision != "allow" else "no scope ticked"
            await self._provider.record_refusal(client_id=pending.client_id, grant=grant, reason=reason)
            return self._back(pending, error="access_denied", error_description=reason)
        code = await self._provider.issue_code(
            client_id=pending.client_id, params=pending.params, grant=grant, scopes=scopes
        )
        return self._back(pending, code=code)

    # -- helpers ------------------------------------------------------------------------------------

    async def _authenticate(self, token: str | None) -> Grant | None:
        if not token or not grant_tokens.looks_like_grant_token(token):
            return None
        grant = await self._grants.authenticate(token)
        return grant if grant is not None and grant.is_live(utcnow()) else None

    async def _client_view(self, pending: PendingAuthorization) -> _ClientView | None:
        client = await self._provider.get_client(pending.client_id)
        if client is None or client.client_id is None:
            return None
        name = client.client_name or "An unnamed application"
        return _ClientView(client_id=client.client_id, name=name, redirect_uri=pending.redirect_uri)

    def _back(self, pending: PendingAuthorization, **params: str | None) -> Response:
        url = construct_redirect_uri(pending.redirect_uri, **params, state=pending.state, iss=self._issuer)
        return RedirectResponse(url, status_code=303, headers=_HEADERS | {"Cache-Control": "no-store"})

    def _sign_in(
        self,
        request: Request,
        pending: PendingAuthorization,
        client: _ClientView,
        csrf: str,
        *,
        handle: str,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        context = {
            "title": f"Sign in to connect {client.name}",
            "step": "sign_in",
            "client": client,
            "requested": pending.requested_scopes or [],
            "handle": handle,
            "csrf": csrf,
            "action": CONSENT_PATH,
            "error": error,
            "upstream": self._upstream.name if self._upstream is not None else None,
        }
        secure = request.url.scheme == "https"
        return _page(context, status, csrf=csrf, secure=secure, redirect=client.redirect_uri)


_EXPIRED = (
    "This sign-in request is unknown, has expired or was already answered. Start again from the application."
)

#: Sent with every page and redirect of the consent flow.
_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Not "no-referrer": browsers then send `Origin: null` on the page's own form posts, which the
    # Host/Origin guard refuses. "same-origin" still sends nothing to the client or anywhere else.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}


def _csp(redirect: str | None) -> str:
    """No scripts, no framing; forms post here, and the answer may redirect to the client's URI."""
    targets = "'self'"
    if redirect:
        parts = urlsplit(redirect)
        targets += f" {parts.scheme}://{parts.netloc}" if parts.netloc else f" {parts.scheme}:"
    return (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        f"form-action {targets}; frame-ancestors 'none'"
    )


def _page(
    context: Mapping[str, Any],
    status: int,
    *,
    csrf: str | None = None,
    secure: bool = False,
    redirect: str | None = None,
) -> Response:
    html = _templates().get_template("consent.html").render(**context)
    response = HTMLResponse(
        html, status_code=status, headers=_HEADERS | {"Content-Security-Policy": _csp(redirect)}
    )
    if csrf is not None:
        response.set_cookie(
            CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=secure, path=CONSENT_PATH
        )
    return response


def _message(title: str, text: str, status: int) -> Response:
    return _page({"title": title, "error": text, "step": "message"}, status)


def _text(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None
