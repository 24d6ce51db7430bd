"""Signing in on the consent page through an upstream OpenID Connect provider, instead of a grant token.

The provider is configured with `PERSONA_MCP_AS_OIDC_*` (issuer, client id and secret). The person is
sent there with the authorization code flow, PKCE `S256` and a nonce (authlib builds the request and
redeems the code); the ID token that comes back is verified here with the provider's published keys
(joserfc): signature, `iss`, `aud` = our client id, `exp`, and the nonce. The person's principal is the
configured claim (default `email`, which must be verified when the provider says so); they sign in to the
one live grant of that principal (in the configured environment). No grant, or several, means refusal,
as for external JWTs: doubt means deny.

The PKCE verifier lives only in the person's browser, in a strict HttpOnly cookie on the consent path;
the nonce is derived from it, and only a digest of the `state` is stored with the pending request.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx2
import structlog
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from persona_mcp.config import AuthorizationServerSettings, jwks_url_problem

if TYPE_CHECKING:  # authlib is imported on the first sign-in: a server without one never loads it
    from authlib.integrations.httpx_client import AsyncOAuth2Client

log = structlog.get_logger(__name__)

_SCOPE = "openid email profile"


class UpstreamSignInError(Exception):
    """The upstream sign-in failed; the message is safe to show the person."""


@dataclass(frozen=True, slots=True)
class UpstreamStart:
    """Where to send the browser, the state to remember (as a digest) and the verifier for its cookie."""

    url: str
    state: str
    verifier: str


def nonce_for(verifier: str) -> str:
    return hashlib.sha256(b"persona-mcp oidc nonce\x00" + verifier.encode()).hexdigest()


class UpstreamProvider:
    """One configured OpenID Connect provider."""

    def __init__(
        self, settings: AuthorizationServerSettings, *, transport: httpx2.AsyncBaseTransport | None = None
    ) -> None:
        if not settings.oidc_issuer or not settings.oidc_client_id:
            raise ValueError("an upstream sign-in needs PERSONA_MCP_AS_OIDC_ISSUER and _CLIENT_ID")
        problem = jwks_url_problem(settings.oidc_issuer)
        if problem:
            raise ValueError(problem.replace("JWKS", "OIDC issuer"))
        self._settings = settings
        self._issuer = settings.oidc_issuer.rstrip("/")
        self._client_id: str = settings.oidc_client_id
        self._transport = transport
        self._metadata: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self._settings.oidc_display_name

    async def start(self, callback_url: str) -> UpstreamStart:
        metadata = await self._discover()
        verifier = secrets.token_urlsafe(48)
        async with self._client(callback_url) as client:
            url, state = client.create_authorization_url(
                metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce_for(verifier)
            )
        return UpstreamStart(url=url, state=state, verifier=verifier)

    async def finish(self, callback_url: str, code: str, verifier: str) -> str:
        """The principal the person signed in as (the configured claim of a verified ID token)."""
        from authlib.integrations.httpx_client import OAuthError

        metadata = await self._discover()
        try:
            async with self._client(callback_url) as client:
                token = await client.fetch_token(
                    metadata["token_endpoint"],
                    code=code,
                    code_verifier=verifier,
                    grant_type="authorization_code",
                )
        except (OAuthError, httpx2.HTTPError, ValueError) as exc:
            log.info("oidc.code_refused", error=type(exc).__name__)
            raise UpstreamSignInError("the identity provider did not accept the sign-in") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise UpstreamSignInError("the identity provider sent no ID token")
        claims = await self._verified(id_token, nonce_for(verifier), metadata)
        claim = self._settings.oidc_principal_claim
        principal = claims.get(claim)
        if not isinstance(principal, str) or not principal:
            raise UpstreamSignInError(f"the ID token has no {claim!r}")
        if claim == "email" and claims.get("email_verified") is False:
            raise UpstreamSignInError("the identity provider has not verified this e-mail address")
        return principal

    async def _verified(self, id_token: str, nonce: str, metadata: dict[str, Any]) -> dict[str, Any]:
        keys = KeySet.import_key_set(await self._get(metadata["jwks_uri"]))  # type: ignore[arg-type]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                decoded = jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "EdDSA"])
            JWTClaimsRegistry(
                now=int(time.time()),
                leeway=30,
                iss={"essential": True, "value": metadata["issuer"]},
                aud={"essential": True, "value": self._client_id},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            log.info("oidc.id_token_refused", error=type(exc).__name__)
            raise UpstreamSignInError("the identity provider's ID token did not verify") from None
        return dict(decoded.claims)

    async def _discover(self) -> dict[str, Any]:
        if self._metadata is None:
            metadata = await self._get(f"{self._issuer}/.well-known/openid-configuration")
            if metadata.get("issuer", "").rstrip("/") != self._issuer:
                raise UpstreamSignInError("the identity provider's metadata names another issuer")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(metadata.get(key), str):
                    raise UpstreamSignInError(f"the identity provider's metadata has no {key}")
            self._metadata = metadata
        return self._metadata

    async def _get(self, url: str) -> dict[str, Any]:
        try:
            async with httpx2.AsyncClient(transport=self._transport, timeout=10) as http:
                answer = await http.get(url, headers={"Accept": "application/json"})
                answer.raise_for_status()
                document: dict[str, Any] = answer.json()
                return document
        except (httpx2.HTTPError, ValueError) as exc:
            log.warning("oidc.fetch_failed", url=url, error=type(exc).__name__)
            raise UpstreamSignInError("the identity provider could not be reached") from None

    def _client(self, callback_url: str) -> AsyncOAuth2Client:
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        secret = self._settings.oidc_client_secret
        kwargs: dict[str, Any] = {"timeout": 10}
        if self._transport is not None:
            kwargs["transport"] = self._transport
        return AsyncOAuth2Client(
            client_id=self._client_id,
            client_secret=secret.get_secret_value() if secret else None,
            token_endpoint_auth_method="client_secret_post" if secret else "none",
            redirect_uri=callback_url,
            scope=_SCOPE,
            code_challenge_method="S256",
            **kwargs,
        )
