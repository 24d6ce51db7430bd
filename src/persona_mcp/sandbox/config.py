"""Construction-time settings of a sandbox app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import httpx2

from persona_mcp.sandbox.auth import TokenIssuer
from persona_mcp.sandbox.faults import Faults

#: The API key a fresh sandbox accepts unless told otherwise; shaped like Persona's sandbox keys.
DEFAULT_API_KEY = "persona_sandbox_demo"


@dataclass(frozen=True)
class SandboxConfig:
    """What one sandbox instance accepts and starts with.

    `rng_seed` drives every random choice (ids, secrets, injected faults), so two apps built from equal
    configs behave identically under the same request sequence.
    """

    api_keys: frozenset[str] = frozenset({DEFAULT_API_KEY})
    seed: Literal["demo"] | None = None
    faults: Faults = field(default_factory=lambda: Faults())
    token_issuer: TokenIssuer | None = None
    rng_seed: int = 0
    environment_id: str = "env_SandboxEnvironment00000"
    organization_id: str = "org_SandboxOrganization0000"
    #: API requests (the simulation clock) a report run takes before it is ready; 0 = on the next request.
    report_ticks: int = 2
    #: Deliver events to enabled webhooks over HTTP (off by default: a test's webhook URL must not be
    #: called unless the test asks for it); `webhook_transport` replaces the network (an ASGI app).
    deliver_webhooks: bool = False
    webhook_transport: httpx2.AsyncBaseTransport | None = None
