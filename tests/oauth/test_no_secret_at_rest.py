"""No token or code appears in clear in the server's log, its database file or the audit exports.

The real `persona-mcp serve --transport http` process (DEBUG log) serves a whole OAuth life: a public
client through the Python SDK's `OAuthClientProvider` (registration, consent, token, calls, refresh), a
confidential client with a secret, a code replay and a refresh replay, a revocation. Every secret handed
out on the way (grant token, codes, access and refresh tokens, the client secret, the consent page's
request handle and CSRF tokens) is then searched for, byte for byte, in the log, in every file of the
data directory (SQLite database and its WAL, checkpoint files) and in the CLI's audit exports.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from e2e._cli import run_cli

from ._flow import (
    REDIRECT,
    MemoryStorage,
    Person,
    authorize_url,
    forms_of,
    oauth_client,
    pkce,
    redirect_params,
    register,
)
from ._real_server import real_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


class _Recording(Person):
    """A person whose browser remembers every value the pages and redirects carried."""

    def seen(self) -> set[str]:
        values: set[str] = set()
        for page in self.pages:
            for form in forms_of(page.text):
                values.update(v for vs in form.fields.values() for v in vs if v.startswith("pm"))
            values.update(v for vs in parse_qs(urlsplit(str(page.request.url)).query).values() for v in vs)
        if self.redirect:
            values.add(redirect_params(self.redirect)["code"])
        return values


async def test_tokens_and_codes_never_appear_in_clear(tmp_path: Path) -> None:
    secrets: set[str] = set()
    async with real_server(
        tmp_path, ["inquiries:read", "accounts:read"], person="dana@example.com"
    ) as server:
        secrets.add(server.grant_token)
        person = _Recording(server.grant_token)
        storage = MemoryStorage()
        auth = oauth_client(server, person, storage, scope=None)  # type: ignore[arg-type]
        async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
            async with Client(streamable_http_client(server.mcp, http_client=http)) as client:
                assert not (await client.call_tool("list_inquiries", {})).is_error
                assert storage.tokens is not None
                secrets |= {storage.tokens.access_token, str(storage.tokens.refresh_token)}
                auth.context.token_expiry_time = time.time() - 1  # the next call refreshes first
                assert not (await client.call_tool("list_accounts", {})).is_error
                secrets |= {storage.tokens.access_token, str(storage.tokens.refresh_token)}
        secrets |= person.seen()

        async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as http:
            confidential = await register(http, server.base, auth_method="client_secret_post")
            secrets.add(confidential["client_secret"])
            client_id = confidential["client_id"]
            verifier, challenge = pkce()
            person = _Recording(server.grant_token)
            await person.authorize(authorize_url(server.base, client_id, challenge, resource=server.mcp))
            secrets |= person.seen()
            code = redirect_params(str(person.redirect))["code"]
            form = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "client_id": client_id,
                "client_secret": confidential["client_secret"],
                "code_verifier": verifier,
            }
            tokens = (await http.post(f"{server.base}/token", data=form)).json()
            secrets |= {tokens["access_token"], tokens["refresh_token"]}
            replay = await http.post(f"{server.base}/token", data=form)
            assert replay.status_code == 400, "code replay refused (and logged, without the code)"
            refresh = {
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": client_id,
                "client_secret": confidential["client_secret"],
            }
            assert (await http.post(f"{server.base}/token", data=refresh)).status_code == 400
            revoke = {"token": storage.tokens.access_token, "client_id": "nobody", "client_secret": ""}
            await http.post(f"{server.base}/revoke", data=revoke)

    exports = []
    for fmt in ("jsonl", "csv", "ocsf"):
        exported = await run_cli("audit", "export", "--format", fmt, env=server.env)
        assert exported.returncode == 0, exported.stderr
        assert b"oauth.token_refreshed" in exported.stdout or fmt != "jsonl"
        exports.append((f"audit export {fmt}", exported.stdout))

    assert len(secrets) >= 14 and all(len(s) >= 20 for s in secrets)
    haystacks = [("server log", server.log.read_bytes()), *exports]
    haystacks += [(str(path), path.read_bytes()) for path in server.data_dir.rglob("*") if path.is_file()]
    assert any("sqlite3" in name for name, _ in haystacks), "the database file was scanned"
    # Positive controls: what is not secret (token family ids) is found where it is kept.
    database = b"".join(data for name, data in haystacks if "sqlite3" in name)
    assert b"fam_" in database and b"fam_" in exports[0][1]
    leaks = [(name, secret[:8]) for name, data in haystacks for secret in secrets if secret.encode() in data]
    assert leaks == []
