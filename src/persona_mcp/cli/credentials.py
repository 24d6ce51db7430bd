"""`persona-mcp credentials`: add, list, test, remove upstream Persona credentials; rotate the secret key.

Secrets are read from stdin or from files, never from argv (where `ps` and shell history would show
them). Every change is recorded in the audit log first; if the audit log cannot be opened the change is
refused.
"""

from __future__ import annotations

import getpass
import ipaddress
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlsplit

import anyio
import typer
from pydantic import SecretStr

from persona_mcp.auth.credentials import (
    ClientAuthMethod,
    CredentialInfo,
    CredentialNotFoundError,
    CredentialResolver,
    CredentialStore,
    CredentialUnavailableError,
    SecretBox,
    SecretBoxError,
    load_secret_box,
)
from persona_mcp.auth.credentials.oauth_flow import signing_key
from persona_mcp.auth.credentials.permissions import excess_permissions, missing_permissions
from persona_mcp.auth.credentials.secretbox import (
    KEY_FILE_NAME,
    NEXT_KEY_FILE_NAME,
    decode_key,
    generate_key,
    write_key_file,
)
from persona_mcp.auth.credentials.store import stored_key_ids
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.events import AdminEventSink
from persona_mcp.auth.scopes import UnknownScopeError, parse_scopes
from persona_mcp.config import Settings, load_settings
from persona_mcp.logs import configure_logging
from persona_mcp.operator_error import OperatorError
from persona_mcp.store import Store, create_store, upgrade

if TYPE_CHECKING:
    from persona_mcp.persona.client import PersonaClient

app = typer.Typer(
    help="Upstream Persona credentials (API keys, OAuth clients, access tokens), encrypted at rest.",
    no_args_is_help=True,
)

_T = TypeVar("_T")
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


@app.callback()
def _logs_to_stderr() -> None:
    """Operational logs go to stderr as JSON, so stdout carries only tables and `--json`."""
    configure_logging("WARNING")


class _CommandError(Exception):
    """A failure to report as one line on stderr with exit status 1."""


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no passwd entry (some containers)
        return f"cli:uid-{os.getuid()}"


async def _secret_box(store: Store, settings: Settings) -> SecretBox:
    """The secret box, never a new key while stored credentials need the old one."""
    return load_secret_box(settings.secret_key, settings.data_dir, stored_key_ids=await stored_key_ids(store))


def _run(work: Callable[[], Awaitable[_T]]) -> _T:
    try:
        return anyio.run(work)
    except OperatorError:
        raise  # one line with its fix, exit status 2 (persona_mcp.cli.main)
    except (
        _CommandError,
        CredentialUnavailableError,
        CredentialNotFoundError,
        SecretBoxError,
        UnknownScopeError,
        ValueError,
    ) as exc:
        # An administrator runs this command: show the detailed fix that agents never see.
        detail = exc.admin_detail if isinstance(exc, CredentialUnavailableError) else None
        typer.echo(f"error: {detail or exc}", err=True)
        raise typer.Exit(1) from None


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Store]:
    store = create_store(settings.resolved_database_url)
    try:
        await upgrade(store)
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def _audit(store: Store, settings: Settings) -> AsyncIterator[AdminEventSink]:
    """The audit log as event sink; credential changes are refused when it cannot be opened."""
    try:
        from persona_mcp.audit import open_admin_sink

        opened = open_admin_sink(store, settings)
        sink = await opened.__aenter__()
    except Exception as exc:
        raise _CommandError(
            f"the audit log is unavailable ({type(exc).__name__}: {exc}); credential changes are refused "
            "until every change can be recorded"
        ) from None
    try:
        yield sink
    finally:
        await opened.__aexit__(*sys.exc_info())


def _read_stdin(what: str) -> SecretStr:
    if sys.stdin.isatty():
        typer.echo(f"paste the {what}, then press Ctrl-D:", err=True)
    value = sys.stdin.read().strip()
    if not value:
        raise _CommandError(f"no {what} on stdin")
    return SecretStr(value)


def _read_file(path: Path, what: str) -> SecretStr:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise _CommandError(f"cannot read the {what} from {path}: {exc.strerror}") from None
    if not value:
        raise _CommandError(f"{path} is empty")
    return SecretStr(value)


def _check_token_url(url: str) -> None:
    """HTTPS only, except to a loopback address (a local gateway or the sandbox)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme == "http" and loopback:
        return
    raise _CommandError(
        f"--token-url must be an https:// URL (http:// only to a loopback address); got {url!r}"
    )


@app.command("add")
def add(
    env: Annotated[Environment, typer.Option("--env", help="Persona environment the credential belongs to.")],
    principal: Annotated[
        str | None, typer.Option(help="Only for this caller principal (default: the environment's default).")
    ] = None,
    api_key_stdin: Annotated[
        bool, typer.Option("--api-key-stdin", help="Read a Persona API key from stdin.")
    ] = False,
    oauth: Annotated[
        bool, typer.Option("--oauth", help="An OAuth 2 client (client_credentials grant).")
    ] = False,
    token_url: Annotated[str | None, typer.Option(help="OAuth token endpoint.")] = None,
    client_id: Annotated[str | None, typer.Option(help="OAuth client id.")] = None,
    client_secret_stdin: Annotated[
        bool, typer.Option("--client-secret-stdin", help="Read the OAuth client secret from stdin.")
    ] = False,
    private_key_file: Annotated[
        Path | None, typer.Option(help="PEM private key (RSA or EC P-256) for private_key_jwt.")
    ] = None,
    auth_method: Annotated[
        ClientAuthMethod | None,
        typer.Option(help="Client authentication (default: private_key_jwt with a key file, else basic)."),
    ] = None,
    scope: Annotated[list[str] | None, typer.Option(help="OAuth scope to request (repeatable).")] = None,
    access_token_stdin: Annotated[
        bool, typer.Option("--access-token-stdin", help="Read an authorization-code access token from stdin.")
    ] = False,
    expires_in: Annotated[
        int | None, typer.Option(min=1, help="Seconds the access token has left (Persona's are 3600).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Store a credential for an environment (replacing the one stored for the same principal)."""
    modes = [api_key_stdin, oauth, access_token_stdin]
    if sum(modes) != 1:
        raise typer.BadParameter("choose exactly one of --api-key-stdin, --oauth, --access-token-stdin")

    async def work() -> CredentialInfo:
        settings = load_settings()
        async with _database(settings) as store:
            box = await _secret_box(store, settings)
            async with _audit(store, settings) as sink:
                credentials = CredentialStore(store, box, events=sink)
                if api_key_stdin:
                    return await credentials.add_api_key(
                        env, _read_stdin("API key"), principal=principal, actor=_actor()
                    )
                if access_token_stdin:
                    if expires_in is None:
                        raise _CommandError("--access-token-stdin needs --expires-in SECONDS")
                    token = _read_stdin("access token")
                    expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
                    return await credentials.add_access_token(
                        env, token, expires_at=expires_at, principal=principal, actor=_actor()
                    )
                return await credentials.add_oauth_client(
                    env, principal=principal, actor=_actor(), **_oauth_args()
                )

    def _oauth_args() -> dict[str, Any]:
        if not token_url or not client_id:
            raise _CommandError("--oauth needs --token-url and --client-id")
        _check_token_url(token_url)
        if client_secret_stdin == (private_key_file is not None):
            raise _CommandError("--oauth needs exactly one of --client-secret-stdin or --private-key-file")
        if private_key_file is not None:
            method = auth_method or ClientAuthMethod.PRIVATE_KEY_JWT
            if method is not ClientAuthMethod.PRIVATE_KEY_JWT:
                raise _CommandError("--private-key-file goes with --auth-method private_key_jwt")
            secret = _read_file(private_key_file, "private key")
            signing_key(secret.get_secret_value())  # refuse an unusable key now, not at first use
        else:
            method = auth_method or ClientAuthMethod.CLIENT_SECRET_BASIC
            if method is ClientAuthMethod.PRIVATE_KEY_JWT:
                raise _CommandError("private_key_jwt needs --private-key-file")
            secret = _read_stdin("client secret")
        return {
            "token_url": token_url,
            "client_id": client_id,
            "client_secret": secret,
            "auth_method": method,
            "scope": " ".join(scope) if scope else None,
        }

    info = _run(work)
    if as_json:
        typer.echo(json.dumps({"added": info.public_dict()}))
        return
    typer.echo(f"added {info.id}: {info.label} ({info.kind.value})")


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Show stored credentials: kind, environment, principal, status, expiry, last refresh. Never a secret."""

    async def work() -> list[CredentialInfo]:
        settings = load_settings()
        async with _database(settings) as store:
            box = await _secret_box(store, settings)
            from persona_mcp.auth.events import DiscardEvents

            # Listing changes nothing, so it needs no audit sink.
            return await CredentialStore(store, box, events=DiscardEvents()).list()

    rows = _run(work)
    if as_json:
        typer.echo(json.dumps([info.public_dict() for info in rows], indent=2))
        return
    if not rows:
        typer.echo("no credentials stored")
        return
    header = ("ID", "KIND", "ENV", "PRINCIPAL", "STATUS", "EXPIRES", "LAST REFRESH")
    table = [header] + [
        (
            info.id,
            info.kind.value,
            info.environment.value,
            info.principal or "(default)",
            info.status.value + (f": {info.disabled_reason}" if info.disabled_reason else ""),
            _when(info.access_expires_at),
            _when(info.last_refreshed_at),
        )
        for info in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment is not None else "-"


@app.command("test")
def test(
    env: Annotated[Environment, typer.Argument(help="Environment whose credential to try.")],
    principal: Annotated[str | None, typer.Option(help="Try this principal's credential.")] = None,
    key_id: Annotated[
        str | None,
        typer.Option(help="Persona API key id (api_...): compare its permissions with --scope."),
    ] = None,
    scope: Annotated[
        list[str] | None, typer.Option(help="Scopes the grants use (repeatable), for the permission check.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Obtain a token and make one cheap call (GET /accounts?page[size]=1) through the Persona client."""

    async def work() -> list[str]:
        from persona_mcp.persona.client import PersonaClient

        settings = load_settings()
        async with _database(settings) as store:
            box = await _secret_box(store, settings)
            async with _audit(store, settings) as sink:
                resolver = CredentialResolver(store, box, settings=settings, events=sink)
                provider = await resolver.provider_for(env, principal or "")
                await provider.bearer_token()
                async with PersonaClient.from_settings(settings.persona, provider) as client:
                    response = await _first_call(client, settings.persona.base_url)
                    lines = [
                        f"ok: GET /accounts answered {response.status} (request id {response.request_id})"
                    ]
                    if key_id is not None:
                        lines += await _permission_report(client, key_id, scope or [])
                return lines

    lines = _run(work)
    if as_json:
        warnings = [line.removeprefix("warning: ") for line in lines if line.startswith("warning: ")]
        typer.echo(
            json.dumps({"ok": True, "environment": env.value, "result": lines[0], "warnings": warnings})
        )
        return
    for line in lines:
        typer.echo(line)


async def _first_call(client: PersonaClient, base_url: str) -> Any:
    """GET /accounts; no answer at all (refused, timed out, unknown host) is the operator's to fix."""
    from persona_mcp.persona.errors import UpstreamUnavailableError

    try:
        return await client.get("/accounts", params={"page[size]": 1})
    except UpstreamUnavailableError as exc:
        raise OperatorError(
            f"cannot reach Persona at {_origin(base_url)}: {exc.reason or 'no answer'}",
            "check PERSONA_API_BASE_URL, this machine's network, proxy (HTTPS_PROXY) and firewall",
        ) from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


async def _permission_report(client: PersonaClient, key_id: str, scopes: list[str]) -> list[str]:
    """Compare the key's permissions (GET /api-keys/{id}, needs `api_key.read`) with the scopes in use."""
    from persona_mcp.persona.envelope import Resource

    granted = parse_scopes(scopes)
    data = (await client.get(f"/api-keys/{key_id}")).document.data
    held = (data.attributes.get("permissions") or []) if isinstance(data, Resource) else []
    lines = []
    extra = sorted(excess_permissions(held, granted))
    lacking = sorted(missing_permissions(held, granted))
    if extra:
        lines.append(f"warning: key {key_id} holds permissions no scope needs: {', '.join(extra)}")
    if lacking:
        lines.append(f"warning: key {key_id} lacks permissions the scopes need: {', '.join(lacking)}")
    if not extra and not lacking:
        lines.append(f"key {key_id} holds exactly the permissions the scopes need")
    return lines


@app.command("remove")
def remove(
    credential_id: Annotated[str, typer.Argument(help="Credential id (cred_...).")],
    as_json: JsonOption = False,
) -> None:
    """Delete a stored credential."""

    async def work() -> CredentialInfo:
        settings = load_settings()
        async with _database(settings) as store:
            box = await _secret_box(store, settings)
            async with _audit(store, settings) as sink:
                return await CredentialStore(store, box, events=sink).remove(credential_id, actor=_actor())

    info = _run(work)
    if as_json:
        typer.echo(json.dumps({"removed": info.public_dict()}))
        return
    typer.echo(f"removed {info.id}: {info.label}")


@app.command("rotate")
def rotate(
    credential_id: Annotated[str, typer.Argument(help="Credential id (cred_...).")],
    api_key_stdin: Annotated[
        bool, typer.Option("--api-key-stdin", help="Read the new Persona API key from stdin.")
    ] = False,
    client_secret_stdin: Annotated[
        bool, typer.Option("--client-secret-stdin", help="Read the OAuth client's new secret from stdin.")
    ] = False,
    private_key_file: Annotated[
        Path | None, typer.Option(help="The OAuth client's new PEM private key (private_key_jwt).")
    ] = None,
    access_token_stdin: Annotated[
        bool, typer.Option("--access-token-stdin", help="Read a new access token from stdin.")
    ] = False,
    expires_in: Annotated[
        int | None, typer.Option(min=1, help="Seconds the new access token has left.")
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            help="Try a new API key or access token with one cheap call before it replaces the old one."
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Replace a stored credential's secret (same environment, principal and settings), audited.

    The new API key or access token is tried first (GET /accounts) and only replaces the old one if Persona
    accepts it; the swap is one transaction, so calls use either the old secret or the new one.
    """
    if sum([api_key_stdin, client_secret_stdin, private_key_file is not None, access_token_stdin]) != 1:
        raise OperatorError(
            "credentials rotate needs exactly one new secret",
            "pass one of --api-key-stdin, --client-secret-stdin, --private-key-file, --access-token-stdin",
        )

    async def work() -> tuple[CredentialInfo, CredentialInfo]:
        settings = load_settings()
        async with _database(settings) as store:
            box = await _secret_box(store, settings)
            from persona_mcp.auth.events import DiscardEvents

            old = await CredentialStore(store, box, events=DiscardEvents()).get(credential_id)
            if old is None:
                raise CredentialNotFoundError(
                    f"no credential {credential_id}; `credentials list` shows the ids"
                )
            new = await _replacement(old, settings)
            async with _audit(store, settings) as sink:
                credentials = CredentialStore(store, box, events=sink)
                if new.kind == "api_key":
                    info = await credentials.add_api_key(
                        old.environment, new.secret, principal=old.principal, actor=_actor()
                    )
                elif new.kind == "access_token":
                    assert new.expires_at is not None
                    info = await credentials.add_access_token(
                        old.environment,
                        new.secret,
                        expires_at=new.expires_at,
                        principal=old.principal,
                        actor=_actor(),
                    )
                else:
                    assert old.token_url and old.client_id and old.auth_method
                    info = await credentials.add_oauth_client(
                        old.environment,
                        principal=old.principal,
                        actor=_actor(),
                        token_url=old.token_url,
                        client_id=old.client_id,
                        client_secret=new.secret,
                        auth_method=old.auth_method,
                        scope=old.scope,
                    )
                return old, info

    @dataclass(frozen=True)
    class _New:
        kind: str
        secret: SecretStr
        expires_at: datetime | None = None

    async def _replacement(old: CredentialInfo, settings: Settings) -> _New:
        kind = old.kind.value
        if api_key_stdin or access_token_stdin:
            wanted = "api_key" if api_key_stdin else "access_token"
            if kind != wanted:
                raise OperatorError(
                    f"{old.id} is a {kind.replace('_', ' ')}, not a {wanted.replace('_', ' ')}",
                    "rotate it with the option of its kind, or `credentials add` to change its kind",
                )
            if access_token_stdin and expires_in is None:
                raise OperatorError("--access-token-stdin needs --expires-in", "pass --expires-in SECONDS")
            secret = _read_stdin("new API key" if api_key_stdin else "new access token")
            if check:
                await _try_secret(settings, secret)
            expires = datetime.now(UTC) + timedelta(seconds=expires_in) if expires_in else None
            return _New(wanted, secret, expires)
        if kind != "oauth_client":
            raise OperatorError(
                f"{old.id} is a {kind.replace('_', ' ')}, not an OAuth client",
                "use --api-key-stdin or --access-token-stdin for it",
            )
        if private_key_file is not None:
            if old.auth_method is not ClientAuthMethod.PRIVATE_KEY_JWT:
                raise OperatorError(
                    f"{old.id} authenticates with a client secret", "use --client-secret-stdin"
                )
            secret = _read_file(private_key_file, "private key")
            signing_key(secret.get_secret_value())  # refuse an unusable key now, not at first use
            return _New(kind, secret)
        if old.auth_method is ClientAuthMethod.PRIVATE_KEY_JWT:
            raise OperatorError(f"{old.id} authenticates with a private key", "use --private-key-file")
        return _New(kind, _read_stdin("new client secret"))

    old, info = _run(work)
    if as_json:
        typer.echo(json.dumps({"rotated": old.id, "credential": info.public_dict()}))
        return
    typer.echo(f"rotated {old.id} -> {info.id}: {info.label} ({info.kind.value})")


async def _try_secret(settings: Settings, secret: SecretStr) -> None:
    """One cheap call with the new secret; Persona refusing it stops the rotation (the old one stays)."""
    from persona_mcp.persona.client import PersonaClient
    from persona_mcp.persona.credentials import ApiKeyCredential
    from persona_mcp.persona.errors import AuthenticationError, PermissionDeniedError

    async with PersonaClient.from_settings(settings.persona, ApiKeyCredential(secret)) as client:
        try:
            await _first_call(client, settings.persona.base_url)
        except (AuthenticationError, PermissionDeniedError) as exc:
            raise OperatorError(
                f"Persona refused the new secret (HTTP {exc.status}); the old one stays in place",
                "check the new key or token (its environment and permissions), or pass --no-check",
            ) from None


@app.command("rotate-key")
def rotate_key(
    new_key_stdin: Annotated[
        bool,
        typer.Option(
            "--new-key-stdin",
            help="Read the new base64 key from stdin (required when PERSONA_MCP_SECRET_KEY holds the key).",
        ),
    ] = False,
) -> None:
    """Re-encrypt every stored secret under a new key; afterwards the old key is no longer needed.

    With the key file, the new key is written to `secret.key.next` first and replaces `secret.key` once
    every row is re-encrypted (an interrupted rotation is finished by running the command again). With
    PERSONA_MCP_SECRET_KEY, pass the new key on stdin and set the variable to it afterwards.
    """

    async def work() -> tuple[int, SecretBox, str]:
        settings = load_settings()
        async with _database(settings) as store:
            current = load_secret_box(settings.secret_key, settings.data_dir)
            new_key, promote = _next_key(settings, new_key_stdin)
            target = current.with_current(new_key)
            async with _audit(store, settings) as sink:
                changed = await CredentialStore(store, target, events=sink).rotate_key(target, actor=_actor())
                # Webhook signing secrets and kept event payloads are sealed with the same key.
                from persona_mcp.events.endpoints import EndpointStore
                from persona_mcp.events.store import EventStore

                await EndpointStore(store, target, events=sink).reseal(target)
                await EventStore(store, target).reseal(target)
            promote()
            return changed, target, "file" if settings.secret_key is None else "env"

    changed, target, mode = _run(work)
    typer.echo(f"re-encrypted {changed} credential(s) under key {target.current_key_id}")
    if mode == "env":
        typer.echo("now set PERSONA_MCP_SECRET_KEY to the new key and restart every server", err=True)
    else:
        typer.echo("restart every server so it loads the new key file", err=True)


def _next_key(settings: Settings, from_stdin: bool) -> tuple[bytes, Callable[[], None]]:
    """The rotation target and how to make it the only key once every row is re-encrypted."""
    if settings.secret_key is not None:
        if not from_stdin:
            raise _CommandError(
                "the key comes from PERSONA_MCP_SECRET_KEY: pass the new key with --new-key-stdin "
                "(e.g. `openssl rand -base64 32`)"
            )
        return decode_key(_read_stdin("new key").get_secret_value()), lambda: None
    next_path = settings.data_dir / NEXT_KEY_FILE_NAME
    if from_stdin:
        if next_path.exists():
            raise _CommandError(
                f"{next_path} exists: finish that rotation first (run without --new-key-stdin)"
            )
        write_key_file(next_path, decode_key(_read_stdin("new key").get_secret_value()))
    elif not next_path.exists():
        write_key_file(next_path, generate_key())
    new_key = decode_key(next_path.read_text(encoding="ascii"))

    def promote() -> None:
        os.replace(next_path, settings.data_dir / KEY_FILE_NAME)

    return new_key, promote
