"""Issue 11, case 1: 64 callers against the sandbox's `--rate-limit 120`, through the real client and gate.

The sandbox counts requests in a fixed window that opens with the first request, like Persona. The window
is shortened to a few seconds (`rate_limit_window_seconds`) so the burst spans several windows without a
test sleeping for minutes; the limit stays 120 per window. Nothing here asserts a speed: "near the limit"
is checked by counting, from the sandbox's own `RateLimit-Remaining` answers, how many windows were opened
and how many calls succeeded in them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio
import httpx2
import pytest
from starlette.applications import Starlette

from persona_mcp.persona import ApiKeyCredential, PersonaClient, RateGate, RateLimitedError, RetryPolicy
from persona_mcp.sandbox import DEFAULT_API_KEY, Faults, SandboxConfig, create_app
from persona_mcp.sandbox.transport import SandboxTransport

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SANDBOX_URL = "http://sandbox.test/api/v1"
LIMIT = 120
WINDOW_SECONDS = 3.0
CALLERS = 64


@dataclass
class UpstreamLog:
    """Every answer the sandbox gave: its status and the `RateLimit-Remaining` it reported."""

    answers: list[tuple[int, int | None]] = field(default_factory=list)

    @property
    def throttled(self) -> int:
        return sum(1 for status, _ in self.answers if status == 429)

    @property
    def windows_opened(self) -> int:
        # The first request of a window is the only one answered with `limit - 1` remaining.
        return sum(1 for _, remaining in self.answers if remaining == LIMIT - 1)


class RecordingTransport(httpx2.AsyncBaseTransport):
    def __init__(self, sandbox: Starlette, log: UpstreamLog) -> None:
        self._inner = SandboxTransport(sandbox)
        self._log = log

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        remaining = response.headers.get("ratelimit-remaining")
        self._log.answers.append((response.status_code, int(remaining) if remaining else None))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _sandbox() -> Starlette:
    faults = Faults(rate_limit_per_minute=LIMIT, rate_limit_window_seconds=WINDOW_SECONDS)
    return create_app(SandboxConfig(faults=faults))


def _client(transport: httpx2.AsyncBaseTransport, gate: RateGate, budget_seconds: float) -> PersonaClient:
    return PersonaClient(
        base_url=SANDBOX_URL,
        credentials=ApiKeyCredential(DEFAULT_API_KEY),
        transport=transport,
        retry=RetryPolicy(max_retries=4, budget_seconds=budget_seconds),
        rate_gate=gate,
    )


@dataclass
class Burst:
    successes: int = 0
    hints: list[float] = field(default_factory=list)


async def _burst(client: PersonaClient, windows: float) -> Burst:
    """64 agents call as fast as they are let through, each honouring the wait hint of a refusal."""
    burst = Burst()
    stop_at = anyio.current_time() + windows * WINDOW_SECONDS

    async def agent() -> None:
        while anyio.current_time() < stop_at:
            try:
                await client.get("/accounts", params={"page[size]": 1})
            except RateLimitedError as refused:
                assert refused.retry_after is not None, "a refusal always says how long to wait"
                burst.hints.append(refused.retry_after)
                await anyio.sleep(min(refused.retry_after, max(stop_at - anyio.current_time(), 0.0)))
            else:
                burst.successes += 1

    with anyio.fail_after(windows * WINDOW_SECONDS + 60):
        async with anyio.create_task_group() as group:
            for _ in range(CALLERS):
                group.start_soon(agent)
    return burst


async def test_64_callers_against_a_limit_of_120_stay_inside_it_and_recover_after_the_burst() -> None:
    upstream = UpstreamLog()
    transport = RecordingTransport(_sandbox(), upstream)
    gate = RateGate()
    # A retry budget of half a window: some callers are refused, so their hints are exercised too.
    async with _client(transport, gate, WINDOW_SECONDS / 2) as agents:
        burst = await _burst(agents, windows=3)

    assert upstream.throttled <= CALLERS, f"{upstream.throttled} upstream 429s in the burst"
    assert burst.hints, "the burst outran the limit, so some calls must have been refused"
    assert max(burst.hints) <= WINDOW_SECONDS, f"a wait hint of {max(burst.hints)} s"
    full_windows = upstream.windows_opened - 1  # the last one may have been cut short by the stop
    assert full_windows >= 2
    assert burst.successes >= 0.9 * LIMIT * full_windows, (
        f"{burst.successes} successes over {upstream.windows_opened} windows of {LIMIT}"
    )

    # After the burst a single caller, allowed to wait one window, gets through on its first try.
    async with _client(transport, gate, WINDOW_SECONDS + 0.5) as single:
        with anyio.fail_after(WINDOW_SECONDS + 30):
            response = await single.get("/accounts", params={"page[size]": 1})
    assert response.exchange.attempts == 1
