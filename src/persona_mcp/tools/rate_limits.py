"""Rate limits: the calling API key's current request window (1 operation, `rate_limits.list`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from persona_mcp.auth.scopes import Scope
from persona_mcp.tools.describe import describe
from persona_mcp.tools.inputs import ToolInput
from persona_mcp.tools.results import Response, ResultModel, from_upstream
from persona_mcp.tools.spec import Effect, ToolContext, ToolSpec


class RateLimit(ResultModel):
    """One limit (Persona's rate-limit objects carry no id)."""

    type: str = Field(description="Persona type, e.g. rate-limit/api.")
    limit: int | None = Field(None, description="Requests per window.")
    remaining: int | None = Field(None, description="Requests left.")
    seconds_to_reset: int | None = Field(None, description="Seconds until the window resets.")


class RateLimits(Response):
    items: list[RateLimit] = Field(description="The key's limits.")


class NoArguments(ToolInput):
    """No arguments."""


async def _rate_limits(ctx: ToolContext, args: NoArguments) -> RateLimits:
    response = await ctx.persona.get("/rate-limits")
    items: list[dict[str, Any]] = [
        {
            "type": resource.type,
            "limit": resource.attributes.get("limit"),
            "remaining": resource.attributes.get("remaining"),
            "seconds_to_reset": resource.attributes.get("seconds-to-reset"),
        }
        for resource in response.document.many()
    ]
    values = {"items": items, "request_id": response.request_id}
    return from_upstream(RateLimits, values, status=response.status, request_id=response.request_id)


list_rate_limits = ToolSpec(
    name="list_rate_limits",
    toolset="rate_limits",
    title="List rate limits",
    description=describe(
        "Read the API key's request limit, what is left and when it resets.",
        use_when="planning many calls.",
    ),
    scope=Scope.RATE_LIMITS_READ,
    effect=Effect.READ,
    operations=("rate_limits.list",),
    input_model=NoArguments,
    output_model=RateLimits,
    handler=_rate_limits,
)

TOOLS = (list_rate_limits,)
