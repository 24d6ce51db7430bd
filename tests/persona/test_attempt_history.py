"""Issue 10.3 as a property: the verdict on a failed call follows from every attempt, not the last status.

The real `PersonaClient` runs against a scripted Persona (an httpx2 `MockTransport`) that knows the truth:
which attempts it carried out, and which Idempotency-Keys it has applied. Over any sequence of attempt
results (applied then lost, 429, 5xx applied or not, connection failures before sending, 4xx, success) and
any retry count and budget, a failed call:

- reports `maybe_applied` exactly when some attempt may have been carried out, as far as the client can
  tell (a lost answer or a 5xx), and never reports it as safe to repeat then;
- is recorded by the call pipeline as `unknown`, never `error`, in that case, and the agent's advice is
  "check first", never "safe" - for a non-idempotent and an idempotent write alike;
- is recorded as `error` when no attempt can have been carried out.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

import anyio
import httpx2
from hypothesis import given, settings
from hypothesis import strategies as st

from persona_mcp.persona import ApiKeyCredential, Exchange, PersonaClient, PersonaError, RetryPolicy
from persona_mcp.server.pipeline import _outcome_unknown
from persona_mcp.tools import catalogue
from persona_mcp.tools.recovery import explain

from .conftest import API_KEY, BASE_URL, SleepRecorder

#: A non-idempotent write (a repeat makes a second account) and an idempotent one.
WRITES = (catalogue.get("create_account"), catalogue.get("approve_inquiry"))
ARGUMENTS = {"reference_id": "usr-property"}


@dataclass(frozen=True)
class Step:
    """What Persona does with one attempt. `applied`: it carried the request out; `lost`: the answer is
    lost after that (a read timeout or a dropped connection); `refused`: no connection was ever made."""

    name: str
    status: int = 201
    applied: bool = False
    lost: bool = False
    refused: bool = False
    retry_after: int | None = None
    error: type[httpx2.TransportError] | None = None

    @property
    def may_have_applied(self) -> bool:
        """What the client can know: a lost answer or a 5xx may hide an applied request."""
        return self.lost or self.status >= 500


def _applied_then_lost() -> st.SearchStrategy[Step]:
    errors = st.sampled_from([httpx2.ReadTimeout, httpx2.ReadError, httpx2.RemoteProtocolError])
    # The answer can be lost whether or not Persona got as far as applying it: the client cannot tell.
    return st.builds(
        lambda error, applied: Step("answer lost", applied=applied, lost=True, error=error),
        errors,
        st.booleans(),
    )


STEPS = st.one_of(
    _applied_then_lost(),
    st.builds(lambda wait: Step("429", status=429, retry_after=wait), st.none() | st.integers(0, 30)),
    st.builds(
        lambda status, applied: Step(f"{status}", status=status, applied=applied),
        st.sampled_from([500, 502, 503, 504]),
        st.booleans(),
    ),
    st.builds(
        lambda error: Step("connection refused", refused=True, error=error),
        st.sampled_from([httpx2.ConnectError, httpx2.ConnectTimeout]),
    ),
    st.builds(lambda status: Step(f"{status}", status=status), st.sampled_from([400, 404, 409, 422])),
    st.just(Step("ok", applied=True)),
)


@dataclass
class ScriptedPersona:
    """Answers attempt n with step n; applies POST /accounts once per Idempotency-Key, as Persona does."""

    steps: list[Step]
    executed: list[Step] = field(default_factory=list)
    accounts: dict[str, str] = field(default_factory=dict)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        step = self.steps[len(self.executed)]
        self.executed.append(step)
        if step.refused:
            assert step.error is not None
            raise step.error("connection refused", request=request)
        if step.applied:
            key = request.headers["idempotency-key"]
            self.accounts.setdefault(key, f"act_prop{len(self.accounts) + 1}")
        if step.lost:
            assert step.error is not None
            raise step.error("the answer was lost", request=request)
        headers = {"Request-Id": f"req_prop{len(self.executed)}"}
        if step.retry_after is not None:
            headers["Retry-After"] = str(step.retry_after)
        if step.status < 300:
            account = self.accounts[request.headers["idempotency-key"]]
            body = {"data": {"type": "account", "id": account, "attributes": {}, "relationships": {}}}
        else:
            body = {"errors": [{"title": "Rejected"}]}
        return httpx2.Response(step.status, headers=headers, content=json.dumps(body).encode())


async def _create(persona: ScriptedPersona, policy: RetryPolicy) -> PersonaError | Exchange:
    client = PersonaClient(
        base_url=BASE_URL,
        credentials=ApiKeyCredential(API_KEY),
        transport=httpx2.MockTransport(persona.handle),
        retry=policy,
        sleep=SleepRecorder(),
        rng=random.Random(0),
    )
    async with client:
        try:
            response = await client.post("/accounts", json={"data": {"attributes": ARGUMENTS}})
        except PersonaError as error:
            return error
    return response.exchange


@settings(max_examples=400, deadline=None)
@given(
    steps=st.lists(STEPS, min_size=6, max_size=6),
    max_retries=st.integers(0, 5),
    budget_seconds=st.sampled_from([0.5, 3.0, 15.0, 60.0, 300.0]),
)
def test_a_failed_write_is_never_called_safe_when_any_attempt_may_have_been_applied(
    steps: list[Step], max_retries: int, budget_seconds: float
) -> None:
    persona = ScriptedPersona(steps)
    policy = RetryPolicy(max_retries=max_retries, budget_seconds=budget_seconds, base_delay=0.5, max_delay=4)
    result = anyio.run(_create, persona, policy)

    assert len(persona.accounts) <= 1, "one Idempotency-Key is applied at most once"
    if isinstance(result, Exchange):
        assert persona.executed[-1].name == "ok" and result.maybe_applied
        return

    may_have_applied = any(step.may_have_applied for step in persona.executed)
    history = [step.name for step in persona.executed]
    assert result.maybe_applied is may_have_applied, history
    assert result.exchange is not None and result.exchange.maybe_applied is may_have_applied
    if persona.accounts:
        assert may_have_applied, f"an account was created but the client ruled it out: {history}"
    for spec in WRITES:
        recorded = "unknown" if _outcome_unknown(spec, result) else "error"
        advice = explain(spec, result, ARGUMENTS)
        if may_have_applied:
            assert recorded == "unknown", (spec.name, history)
            assert advice.retry_safe is False and advice.kind == "outcome_unknown", (spec.name, history)
            assert "safe" not in advice.message, (spec.name, history, advice.message)
            assert result.retry_safe is False, history
        else:
            assert recorded == "error", (spec.name, history)
