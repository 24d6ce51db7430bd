"""What the server can tell at start that would otherwise surface as the first call's failure.

A server that starts without any grant, with a stdio token that resolves to nothing, without a Persona
credential for an environment its grants use, or with a secret key that cannot open the stored
credentials serves every call a refusal. Each of those states is logged as a warning once at start and
shown by `/healthz` as `degraded` (with the warnings, to local or authenticated callers), so an operator
sees it before an agent does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

import structlog

from persona_mcp.auth.callers import CallerResolver
from persona_mcp.auth.credentials import CredentialStore, SecretBoxError
from persona_mcp.auth.grant import Grant
from persona_mcp.auth.grants import GrantStore
from persona_mcp.config import Settings

log = structlog.get_logger("persona_mcp.server.startup")


@dataclass(frozen=True, slots=True)
class StartupWarning:
    """One state in which calls will fail: a stable code, what is wrong, and the fix. No secrets."""

    code: str
    message: str
    hint: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


async def startup_warnings(
    *,
    settings: Settings,
    transport: str,
    grants: GrantStore,
    callers: CallerResolver,
    credentials: CredentialStore,
    stdio_token: str | None,
    now: datetime,
) -> list[StartupWarning]:
    """Every warning that applies now, in a fixed order."""
    live = [grant for grant in await grants.list_all(include_revoked=False) if grant.is_live(now)]
    found: list[StartupWarning] = []
    if not live:
        found.append(
            StartupWarning(
                "no_grants",
                "there is no live grant: every tool call will be refused",
                "create one with `persona-mcp grants create --principal NAME --env sandbox`",
            )
        )
    if transport == "stdio":
        found.extend(await _stdio_token(callers, stdio_token))
    found.extend(await _undecryptable(credentials))
    found.extend(await _missing_credentials(settings, credentials, live))
    return found


async def _stdio_token(callers: CallerResolver, token: str | None) -> list[StartupWarning]:
    if not token:
        return [
            StartupWarning(
                "stdio_token_missing",
                "PERSONA_MCP_TOKEN is not set: the stdio caller has no grant and sees no tools",
                "set PERSONA_MCP_TOKEN to the token `persona-mcp grants create` printed",
            )
        ]
    if await callers.resolve(token) is not None:
        return []
    refusal = await callers.refusal(token)
    return [
        StartupWarning(
            "stdio_token_refused",
            f"PERSONA_MCP_TOKEN is refused ({refusal.reason}): the stdio caller sees no tools",
            "issue a new token with `persona-mcp grants rotate ID` or `grants create`, and set it",
        )
    ]


async def _undecryptable(credentials: CredentialStore) -> list[StartupWarning]:
    stored = await credentials.list()
    failed = []
    for info in stored:
        try:
            await credentials.load(info.id)
        except SecretBoxError:
            failed.append(info.id)
    if not failed:
        return []
    return [
        StartupWarning(
            "secret_key_mismatch",
            f"the secret key cannot decrypt {len(failed)} of {len(stored)} stored credential(s) "
            f"({', '.join(failed[:5])}): calls that need them will fail",
            "set PERSONA_MCP_SECRET_KEY (or the key file) to the key they were stored under; "
            "`persona-mcp credentials list` names it",
        )
    ]


async def _missing_credentials(
    settings: Settings, credentials: CredentialStore, live: Sequence[Grant]
) -> list[StartupWarning]:
    missing: dict[str, list[str]] = {}
    for grant in live:
        environment = grant.environment.value
        if settings.persona.key is not None and settings.environment == environment:
            continue
        if await credentials.find(grant.environment, grant.principal) is None:
            missing.setdefault(environment, []).append(grant.id)
    return [
        StartupWarning(
            "no_credential",
            f"no Persona credential for the {environment} environment, which grant(s) "
            f"{', '.join(ids[:5])} use: their calls will fail",
            f"run `persona-mcp credentials add --env {environment} --api-key-stdin` (or set PERSONA_API_KEY "
            f"with PERSONA_MCP_ENVIRONMENT={environment})",
        )
        for environment, ids in sorted(missing.items())
    ]


def log_warnings(warnings: Sequence[StartupWarning]) -> None:
    for warning in warnings:
        log.warning("startup check failed", code=warning.code, problem=warning.message, hint=warning.hint)
