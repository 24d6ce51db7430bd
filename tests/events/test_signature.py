"""`Persona-Signature` as PROTOCOL.md describes it: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from persona_mcp.events.signature import SignatureRefused, parse_header, verify

BODY = b'{"data":{"id":"evt_1"}}'
NOW = 1_760_000_000


def persona_sketch(header: str, raw_body: bytes, secrets: list[str]) -> bool:
    """The verification sketch of PROTOCOL.md, verbatim: our verifier must agree with it."""
    pairs = [dict(kv.split("=", 1) for kv in part.split(",")) for part in header.split(" ") if part]
    for p in pairs:
        msg = p["t"].encode() + b"." + raw_body
        for s in secrets:
            if hmac.compare_digest(hmac.new(s.encode(), msg, hashlib.sha256).hexdigest(), p["v1"]):
                return True
    return False


def header_for(secret: str, t: int = NOW, body: bytes = BODY) -> str:
    return f"t={t},v1={hmac.new(secret.encode(), f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}"


def test_a_signature_made_as_persona_documents_verifies() -> None:
    header = header_for("wbhsec_a")
    assert persona_sketch(header, BODY, ["wbhsec_a"])
    assert verify(header, BODY, ["wbhsec_a"], now=NOW) == NOW


def test_each_pair_is_tried_against_each_valid_secret_during_rotation() -> None:
    header = f"{header_for('wbhsec_new')} {header_for('wbhsec_old')}"
    assert verify(header, BODY, ["wbhsec_old"], now=NOW) == NOW
    assert verify(header, BODY, ["wbhsec_other", "wbhsec_new"], now=NOW) == NOW


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing Persona-Signature header"),
        ("", "missing Persona-Signature header"),
        ("v1=abc", "malformed Persona-Signature header"),
        ("t=abc,v1=00", "malformed Persona-Signature header"),
        (f"t={NOW}", "malformed Persona-Signature header"),
        ("t=1,t=2,v1=00", "malformed Persona-Signature header"),
    ],
)
def test_malformed_headers_are_refused(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureRefused) as refused:
        verify(header, BODY, ["wbhsec_a"], now=NOW)
    assert refused.value.reason == reason


def test_wrong_secret_stale_or_future_timestamps_and_no_secret_are_refused() -> None:
    cases = [
        (header_for("wbhsec_b"), ["wbhsec_a"], NOW, "signature mismatch"),
        (header_for("wbhsec_a", t=NOW - 301), ["wbhsec_a"], NOW, "stale timestamp (outside 300 s)"),
        (header_for("wbhsec_a", t=NOW + 301), ["wbhsec_a"], NOW, "stale timestamp (outside 300 s)"),
        (header_for("wbhsec_a"), [], NOW, "no valid secret for this endpoint"),
    ]
    for header, secrets, now, reason in cases:
        with pytest.raises(SignatureRefused) as refused:
            verify(header, BODY, secrets, now=now)
        assert refused.value.reason == reason


def test_pairs_are_parsed_with_their_own_timestamps() -> None:
    pairs = parse_header("t=1,v1=AA t=2,v1=bb")
    assert [(p.timestamp, p.digest) for p in pairs] == [(1, "aa"), (2, "bb")]
