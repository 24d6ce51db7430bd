"""The record the audit benchmarks append and verify: a typical read outcome, personal values digested."""

from __future__ import annotations

from persona_mcp.audit import AuditEvent


def typical_outcome(i: int) -> AuditEvent:
    return AuditEvent(
        kind="call.outcome",
        call_id=f"call-{i}",
        principal="agent",
        grant_id="grt_bench",
        tool="get_account",
        scope="accounts:read",
        decision="allowed",
        arguments={"account_id": f"act_{i}", "email": "hmac-sha256:" + "ab" * 32},
        upstream_method="GET",
        upstream_path=f"/accounts/act_{i}",
        upstream_status=200,
        persona_request_id=f"req_{i}",
        object_ids=[f"act_{i}"],
        attempts=1,
        latency_ms=12.5,
        outcome="ok",
    )
