from datetime import UTC, datetime, timedelta

import anyio
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from persona_mcp.auth.credentials import (
    CredentialResolver,
    CredentialStore,
    CredentialUnavailableError,
    SecretBox,
)
from persona_mcp.auth.environment import Environment
from persona_mcp.config import PersonaSettings, Settings
from persona_mcp.store import Store

from ._support import AGENT_MESSAGE, RecordingSink

pytestmark = pytest.mark.anyio


def _settings(*, key: str | None = None, environment: str = "sandbox") -> Settings:
    return Settings(
        environment=environment,
        persona=PersonaSettings(key=SecretStr(key) if key else None),
    )


def _resolver(store: Store, box: SecretBox, sink: RecordingSink, settings: Settings) -> CredentialResolver:
    return CredentialResolver(store, box, settings=settings, events=sink)


async def test_a_stored_api_key_is_returned_for_its_environment(
    store: Store, box: SecretBox, sink: RecordingSink, credential_store: CredentialStore
) -> None:
    await credential_store.add_api_key(Environment.SANDBOX, SecretStr("persona_sandbox_stored"), actor="t")
    provider = await _resolver(store, box, sink, _settings()).provider_for(Environment.SANDBOX, "alice")
    assert await provider.bearer_token() == "persona_sandbox_stored"
    assert await provider.on_unauthorized("persona_sandbox_stored") is False


async def test_a_principal_credential_wins_over_the_environment_default(
    store: Store, box: SecretBox, sink: RecordingSink, credential_store: CredentialStore
) -> None:
    await credential_store.add_api_key(Environment.SANDBOX, SecretStr("k_default"), actor="t")
    await credential_store.add_api_key(
        Environment.SANDBOX, SecretStr("k_alice"), principal="alice", actor="t"
    )
    resolver = _resolver(store, box, sink, _settings())
    assert await (await resolver.provider_for(Environment.SANDBOX, "alice")).bearer_token() == "k_alice"
    assert await (await resolver.provider_for(Environment.SANDBOX, "bob")).bearer_token() == "k_default"


async def test_without_stored_credentials_the_configured_api_key_serves_its_own_environment(
    store: Store, box: SecretBox, sink: RecordingSink
) -> None:
    resolver = _resolver(store, box, sink, _settings(key="persona_sandbox_env", environment="sandbox"))
    provider = await resolver.provider_for(Environment.SANDBOX, "alice")
    assert await provider.bearer_token() == "persona_sandbox_env"


async def test_a_sandbox_grant_can_never_reach_production_credentials(
    store: Store, box: SecretBox, sink: RecordingSink, credential_store: CredentialStore
) -> None:
    await credential_store.add_api_key(
        Environment.PRODUCTION, SecretStr("persona_production_stored"), actor="t"
    )
    await credential_store.add_api_key(
        Environment.PRODUCTION, SecretStr("persona_production_alice"), principal="alice", actor="t"
    )
    resolver = _resolver(store, box, sink, _settings(key="persona_production_env", environment="production"))
    for principal in ("alice", "bob", ""):
        with pytest.raises(CredentialUnavailableError, match="sandbox"):
            await resolver.provider_for(Environment.SANDBOX, principal)
    await credential_store.add_api_key(Environment.SANDBOX, SecretStr("persona_sandbox_stored"), actor="t")
    resolver.forget()  # as if the two-second lookup cache had run out
    provider = await resolver.provider_for(Environment.SANDBOX, "alice")
    assert await provider.bearer_token() == "persona_sandbox_stored"


async def test_a_credential_added_elsewhere_is_used_once_the_two_second_lookup_cache_runs_out(
    store: Store, box: SecretBox, sink: RecordingSink, credential_store: CredentialStore
) -> None:
    moment = [100.0]
    resolver = CredentialResolver(store, box, settings=_settings(), events=sink, monotonic=lambda: moment[0])
    with pytest.raises(CredentialUnavailableError):
        await resolver.provider_for(Environment.SANDBOX, "alice")
    await credential_store.add_api_key(Environment.SANDBOX, SecretStr("persona_sandbox_late"), actor="t")
    moment[0] += 1.9
    with pytest.raises(CredentialUnavailableError):
        await resolver.provider_for(Environment.SANDBOX, "alice")
    moment[0] += 0.2
    provider = await resolver.provider_for(Environment.SANDBOX, "alice")
    assert await provider.bearer_token() == "persona_sandbox_late"


async def test_no_applicable_credential_raises_with_the_command_that_adds_one(
    store: Store, box: SecretBox, sink: RecordingSink
) -> None:
    resolver = _resolver(store, box, sink, _settings())
    with pytest.raises(CredentialUnavailableError, match="credentials add --env production"):
        await resolver.provider_for(Environment.PRODUCTION, "alice")


async def test_an_authorization_code_token_works_until_it_expires_then_says_what_to_do(
    store: Store, box: SecretBox, sink: RecordingSink, credential_store: CredentialStore
) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    await credential_store.add_access_token(
        Environment.PRODUCTION, SecretStr("at_granted"), expires_at=now[0] + timedelta(hours=1), actor="t"
    )
    resolver = CredentialResolver(store, box, settings=_settings(), events=sink, clock=lambda: now[0])
    provider = await resolver.provider_for(Environment.PRODUCTION, "alice")
    with capture_logs() as early:
        assert await provider.bearer_token() == "at_granted"
    assert await provider.on_unauthorized("at_granted") is False
    now[0] += timedelta(minutes=55)
    with capture_logs() as late:
        assert await provider.bearer_token() == "at_granted"
    assert early == []
    assert late[0]["event"] == "credential.access_token_expiring"
    assert "--access-token-stdin" in late[0]["fix"]
    now[0] += timedelta(minutes=5)
    with pytest.raises(CredentialUnavailableError) as expired:
        await provider.bearer_token()
    assert str(expired.value) == AGENT_MESSAGE.format(env="production")
    assert "--access-token-stdin --expires-in 3600" in expired.value.admin_detail


async def test_a_replaced_credential_takes_effect_once_the_lookup_cache_runs_out(
    store: Store, box: SecretBox, sink: RecordingSink, credential_store: CredentialStore
) -> None:
    await credential_store.add_api_key(Environment.SANDBOX, SecretStr("k_old"), actor="t")
    resolver = _resolver(store, box, sink, _settings())
    assert await (await resolver.provider_for(Environment.SANDBOX, "a")).bearer_token() == "k_old"
    await credential_store.add_api_key(Environment.SANDBOX, SecretStr("k_new"), actor="t")
    resolver.forget()  # what two seconds do (see the lookup-cache test)
    assert await (await resolver.provider_for(Environment.SANDBOX, "a")).bearer_token() == "k_new"


async def test_calls_in_flight_when_the_lookup_cache_runs_out_share_one_read(
    store: Store,
    box: SecretBox,
    sink: RecordingSink,
    credential_store: CredentialStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 18: 64 calls missing the lapsed entry at once make one database read, not 64."""
    await credential_store.add_api_key(Environment.SANDBOX, SecretStr("persona_sandbox_shared"), actor="t")
    moment = [100.0]
    resolver = CredentialResolver(store, box, settings=_settings(), events=sink, monotonic=lambda: moment[0])
    reads: list[tuple[object, object]] = []
    find = resolver.credentials.find

    async def counted(environment: Environment, principal: str | None) -> object:
        reads.append((environment, principal))
        await anyio.sleep(0.01)
        return await find(environment, principal)

    monkeypatch.setattr(resolver.credentials, "find", counted)
    await resolver.provider_for(Environment.SANDBOX, "alice")
    moment[0] += 2.1
    tokens: list[str] = []

    async def call() -> None:
        tokens.append(await (await resolver.provider_for(Environment.SANDBOX, "alice")).bearer_token())

    async with anyio.create_task_group() as tg:
        for _ in range(64):
            tg.start_soon(call)
    assert len(reads) == 2
    assert tokens == ["persona_sandbox_shared"] * 64
    await resolver.provider_for(Environment.SANDBOX, "bob")  # another key is its own read
    assert len(reads) == 3
