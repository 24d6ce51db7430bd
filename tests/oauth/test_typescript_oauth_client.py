"""The official TypeScript SDK's OAuth client through the same flow (tests/ts/oauth.mjs).

The harness of the real-clients tests (tests/ts, the pinned SDK installed with `npm ci`) drives the real
`persona-mcp serve --transport http`: discovery, registration, the consent page (signed in with the
person's grant token, one scope unticked), the token exchange, tool calls, a refresh the SDK makes by
itself after its access token is refused, and an RFC 7009 revocation after which the next call is
refused. The audit log then names the client and the person on the calls.
Without Node.js these tests skip with the reason, except under CI (`CI=true`), where they fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from e2e._cli import run_cli
from e2e.test_typescript_client import TS_DIR, node  # noqa: F401  (the `node` fixture)

from ._real_server import real_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PERSON = "erin@example.com"


async def test_the_typescript_sdk_signs_in_calls_refreshes_and_revokes(node: str, tmp_path: Path) -> None:  # noqa: F811
    scopes = ["inquiries:read", "accounts:read", "lists:read"]
    async with real_server(tmp_path, scopes, person=PERSON) as server:
        plan = tmp_path / "plan.json"
        plan.write_text(
            json.dumps(
                {
                    "url": server.mcp,
                    "grantToken": server.grant_token,
                    "redirectUrl": "http://127.0.0.1:53999/callback",
                    "untick": ["lists:read"],
                    "tool": "list_inquiries",
                }
            )
        )
        with anyio.fail_after(120):
            ran = await anyio.run_process(
                [node, str(TS_DIR / "oauth.mjs"), str(plan)], cwd=TS_DIR, check=False
            )
        assert ran.returncode == 0, ran.stderr.decode()
        summary = json.loads(ran.stdout.decode().strip().splitlines()[-1])
    assert summary["challenged"] and summary["stateReturned"]
    assert set(summary["scope"].split()) == {"inquiries:read", "accounts:read"}
    assert "list_inquiries" in summary["tools"] and "list_lists" not in summary["tools"]
    assert not summary["firstIsError"] and not summary["secondIsError"]
    assert summary["refreshed"], "the SDK refreshed with a rotated refresh token"
    # RFC 7009: the client revoked its refresh token; the family's access token is refused on the next
    # call, raw (with no wait: the revocation drops this process's cached resolutions) or through the
    # SDK, whose refresh is refused in turn.
    assert summary["revocationStatus"] == 200
    assert summary["revokedTokenStatus"] == 401
    assert summary["afterRevocation"] in ("InvalidGrantError", "UnauthorizedError")

    exported = await run_cli("audit", "export", "--format", "jsonl", env=server.env)
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.decode().splitlines()]
    calls = [r for r in records if r.get("tool") == "list_inquiries" and r.get("principal") is not None]
    made = [r for r in calls if r["kind"] != "call.denied"]
    assert made and {(r["client_id"], r["subject"], r["principal"]) for r in made} == {
        (summary["clientId"], PERSON, PERSON)
    }
    refused = [r for r in calls if r["kind"] == "call.denied"]
    assert [r["principal"] for r in refused] == [PERSON], "the call after the revocation, refused"
    kinds = {r["kind"] for r in records}
    assert {
        "admin.oauth.client_registered",
        "admin.oauth.consent_given",
        "admin.oauth.token_refreshed",
        "admin.oauth.token_revoked",
    } <= kinds
