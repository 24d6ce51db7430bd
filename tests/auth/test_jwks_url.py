"""The JWKS URL decides which keys sign valid tokens, so it must come over https (or from this host)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from auth_helpers import Issuer
from pydantic import ValidationError

from persona_mcp.auth.jwt import JwtVerifier
from persona_mcp.auth.settings import OAuthSettings

PERSONA_MCP = str(Path(sys.executable).with_name("persona-mcp"))


def _settings(jwks_url: str) -> OAuthSettings:
    return OAuthSettings(issuer=Issuer.ISSUER, jwks_url=jwks_url, resource_url=Issuer.RESOURCE)


@pytest.mark.parametrize(
    "url",
    [
        "http://auth.example.com/.well-known/jwks.json",
        "http://10.0.0.5:8080/jwks",
        "http://localhost.evil.example/jwks",
        "http://127.0.0.1.nip.io/jwks",
        "ftp://auth.example.com/jwks",
        "auth.example.com/jwks",
        "https:///jwks",
    ],
)
def test_a_jwks_url_that_is_not_https_is_refused_naming_the_setting_and_the_fix(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _settings(url)
    message = str(refused.value)
    assert "jwks_url" in message
    assert "must use https" in message and "PERSONA_MCP_OAUTH_JWKS_URL" in message


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.example.com/.well-known/jwks.json",
        "http://127.0.0.1:8080/jwks",
        "http://127.42.0.1/jwks",
        "http://localhost:9000/.well-known/jwks.json",
        "http://[::1]:9000/jwks",
    ],
)
def test_https_or_a_loopback_http_jwks_url_is_accepted(url: str) -> None:
    assert _settings(url).jwks_url == url
    assert JwtVerifier(_settings(url)).audience == Issuer.RESOURCE


def test_the_verifier_refuses_a_plain_http_url_set_after_validation() -> None:
    changed = _settings(Issuer.JWKS_URL).model_copy(update={"jwks_url": "http://auth.example.com/jwks"})
    with pytest.raises(ValueError, match="must use https"):
        JwtVerifier(changed)


def test_serve_with_a_plain_http_jwks_url_stops_with_a_configuration_error_not_a_traceback(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERSONA_MCP_", "PERSONA_API_"))}
    env |= {
        "PERSONA_MCP_DATA_DIR": str(tmp_path),
        "PERSONA_MCP_OAUTH_ISSUER": Issuer.ISSUER,
        "PERSONA_MCP_OAUTH_JWKS_URL": "http://auth.example.com/jwks",
    }
    done = subprocess.run(
        [PERSONA_MCP, "serve", "--transport", "http", "--port", "9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: PERSONA_MCP_OAUTH_JWKS_URL"), done.stderr[-2000:]
    assert "PERSONA_MCP_OAUTH_JWKS_URL" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "persona-mcp.sqlite3").exists(), "nothing opened before the refusal"
