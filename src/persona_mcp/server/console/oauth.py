"""Signing in to the console through the built-in authorization server ("Sign in with persona-mcp").

The console is a first-party client of the authorization server it runs beside: a public client (no
secret) registered once under an id derived from its redirect URI, using the authorization code flow
with PKCE `S256` and a `state`, back to `/console/oauth/callback`. authlib builds the authorization
request, checks the answer's `state` and redeems the code; the SDK's authorize and token endpoints on
the project's provider do the server side, unchanged: the token request is sent to them in process
(an ASGI transport), not over the network, so a proxy in front of the server changes nothing.

The consent page signs the person in (grant token, or the upstream OpenID Connect provider) and narrows
the scopes exactly as for any client: the intersection of what the console asks for, what the grant
holds and what the person left ticked. The tokens themselves are not kept: the console's session names
the grant, the person and the scopes of the token, and the token family, which must stay live (signing
out, revoking the family or the console's client ends the session).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
import structlog
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import AnyUrl
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp

from persona_mcp.auth.grant import Grant, PrincipalKind
from persona_mcp.auth.oauth.clients import redirect_uri_problem
from persona_mcp.auth.oauth.provider import GrantBoundAuthorizationServer, issuer_for
from persona_mcp.auth.scopes import Scope

if TYPE_CHECKING:  # authlib is imported on the first console sign-in, not by every HTTP server's start
    from authlib.integrations.httpx_client import AsyncOAuth2Client

log = structlog.get_logger(__name__)

CALLBACK_PATH = "/console/oauth/callback"
#: What the console asks for; the consent page offers only what the person's grant holds.
CONSOLE_SCOPES: tuple[Scope, ...] = (
    Scope.AUDIT_READ,
    Scope.AUDIT_ALL_ENVIRONMENTS,
    Scope.PII_READ,
    Scope.APPROVALS_DECIDE,
    Scope.ADMIN,
)
CLIENT_NAME = "persona-mcp console"
_KNOWN = {scope.value: scope for scope in Scope}


class SignInRefused(Exception):
    """The sign-in did not complete; `reason` is recorded, the message is safe to show."""

    def __init__(self, message: str, *, reason: str, status_code: int = 401) -> None:
        super().__init__(message)
        self.reason = reason
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class Flow:
    """One sign-in under way: what the browser's flow cookie carries back to the callback."""

    state: str
    verifier: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who signed in, from the token: the grant, the person and the scopes the consent gave."""

    grant: Grant
    person: str
    scopes: frozenset[Scope]
    family_id: str
    client_id: str


class ConsoleOAuth:
    """The console's side of the flow, on the server's own authorization server."""

    def __init__(self, provider: GrantBoundAuthorizationServer, *, endpoints: ASGIApp) -> None:
        self.provider = provider
        self.issuer = issuer_for(provider.resource)
        self._endpoints = endpoints
        self.callback_url = self.issuer.rstrip("/") + CALLBACK_PATH
        digest = hashlib.sha256(self.callback_url.encode()).hexdigest()[:16]
        self.client_id = f"persona-mcp-console-{digest}"

    @property
    def available(self) -> bool:
        """The callback can be a redirect URI (https, or plain http on loopback only)."""
        return redirect_uri_problem(self.callback_url) is None

    async def start(self) -> tuple[str, Flow]:
        """The authorization URL to send the browser to, and the flow to remember in its cookie."""
        await self._ensure_client()
        verifier = secrets.token_urlsafe(48)
        async with self._client() as client:
            url, state = client.create_authorization_url(
                self.issuer + "authorize", code_verifier=verifier, resource=self.provider.resource
            )
        return str(url), Flow(state=str(state), verifier=verifier)

    async def finish(self, response_url: str, flow: Flow) -> SignedIn:
        """Redeem the code of the authorization server's answer; refuse anything not of this flow."""
        answer = dict(parse_qsl(urlsplit(response_url).query))
        if "code" not in answer:
            # An error answer: authlib only checks the state of a code, so it is compared here first.
            if not hmac.compare_digest(answer.get("state", ""), flow.state):
                raise SignInRefused(_NOT_THIS_FLOW, reason="state mismatch", status_code=403)
            error = answer.get("error", "no code")
            raise SignInRefused(
                "The console was not allowed to sign you in." if error == "access_denied" else _FAILED,
                reason=f"authorization server answered {error}"[:120],
            )
        if answer.get("iss", self.issuer) != self.issuer:  # RFC 9207: the answer of our own server
            raise SignInRefused(_NOT_THIS_FLOW, reason="issuer mismatch", status_code=403)
        from authlib.common.errors import AuthlibBaseError

        try:
            async with self._client() as client:
                token = await client.fetch_token(
                    self.issuer + "token",
                    authorization_response=response_url,
                    state=flow.state,
                    code_verifier=flow.verifier,
                )
        except AuthlibBaseError as exc:  # authlib's state check, or the token endpoint's refusal
            reason = "state mismatch" if exc.error == "mismatching_state" else f"token refused: {exc.error}"
            status = 403 if exc.error == "mismatching_state" else 401
            raise SignInRefused(
                _NOT_THIS_FLOW if status == 403 else _FAILED, reason=reason, status_code=status
            ) from None
        except (httpx2.HTTPError, ValueError) as exc:
            log.warning("console.oauth_token_failed", error=type(exc).__name__)
            raise SignInRefused(_FAILED, reason="token request failed") from None
        return await self._signed_in(str(token.get("access_token", "")))

    async def _signed_in(self, access_token: str) -> SignedIn:
        stored = await self.provider.load_access_token(access_token)
        verified = await self.provider.verify_access(access_token)
        if stored is None or verified is None or verified.client_id != self.client_id:
            raise SignInRefused(_FAILED, reason="token not valid")
        grant = verified.grant
        if grant.principal_kind is not PrincipalKind.PERSON:
            await self.provider.revoke_family(
                stored.family_id, actor=grant.principal, reason="console sign-in with an agent's grant"
            )
            raise SignInRefused(
                "That grant belongs to an agent; the console is for people's grants.", reason="agent grant"
            )
        return SignedIn(
            grant=grant,
            person=verified.person or grant.principal,
            scopes=frozenset(verified.scopes),
            family_id=stored.family_id,
            client_id=verified.client_id,
        )

    async def _ensure_client(self) -> None:
        """Register the console as a client the first time (one row, whichever replica gets there)."""
        clients = self.provider.clients
        if await clients.get(self.client_id) is not None:
            return
        if await clients.known(self.client_id):
            raise SignInRefused(
                "Signing in through the authorization server was turned off (the console's client was "
                "revoked); sign in with your grant token.",
                reason="console client revoked",
                status_code=403,
            )
        info = OAuthClientInformationFull(
            client_id=self.client_id,
            client_id_issued_at=int(time.time()),
            client_name=CLIENT_NAME,
            redirect_uris=[AnyUrl(self.callback_url)],
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            scope=" ".join(scope.value for scope in CONSOLE_SCOPES),
        )
        try:
            await clients.register(info)
        except IntegrityError:
            log.info("console.oauth_client_registered_elsewhere", client_id=self.client_id)

    def _client(self) -> AsyncOAuth2Client:
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        kwargs: dict[str, Any] = {"transport": httpx2.ASGITransport(app=self._endpoints), "timeout": 30}
        return AsyncOAuth2Client(
            client_id=self.client_id,
            token_endpoint_auth_method="none",
            redirect_uri=self.callback_url,
            scope=" ".join(scope.value for scope in CONSOLE_SCOPES),
            code_challenge_method="S256",
            **kwargs,
        )


def scopes_named(names: list[str] | tuple[str, ...]) -> frozenset[Scope]:
    return frozenset(_KNOWN[name] for name in names if name in _KNOWN)


_NOT_THIS_FLOW = "The sign-in could not be verified (it was not started from this browser): start again."
_FAILED = "The sign-in did not complete: start again."

__all__ = ["CALLBACK_PATH", "CONSOLE_SCOPES", "ConsoleOAuth", "Flow", "SignInRefused", "SignedIn"]
