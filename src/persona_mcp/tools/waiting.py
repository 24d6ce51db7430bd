"""Waiting for an inquiry or a report to reach a status: the polling helpers `wait_for_inquiry` and
`wait_for_report`.

Persona finishes inquiries (the user's flow, a review) and reports (a screening run) in the background.
The tool reads the object, and until it reaches one of the named statuses waits for a change and reads
again, for at most `timeout_seconds` (60 at most). What wakes it is a `ChangeWaiter`: by default a
timer (polling); when the server receives Persona's webhooks (issue 15's receiver, `ToolContext.events`)
a verified event about the object wakes the wait as soon as it arrives, and another event source can be
plugged in with `set_waiter`. Each round sends an MCP progress notification when
the client asked for them. The answer is the object's status either way, with `reached` telling whether
it got there: a "still pending" answer says what to do next instead of failing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol

import anyio
from pydantic import Field

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import InquiryId, ReportId
from persona_mcp.tools.describe import describe
from persona_mcp.tools.factories import path_for
from persona_mcp.tools.inputs import ToolInput
from persona_mcp.tools.results import Response, from_upstream
from persona_mcp.tools.spec import Effect, ToolContext, ToolSpec

MAX_WAIT_SECONDS = 60
DEFAULT_POLL_SECONDS = 2.0


class ChangeWaiter(Protocol):
    """Waits until `object_id` may have changed, or `timeout` seconds have passed, whichever is first."""

    async def wait(self, object_id: str, timeout: float) -> None: ...


class PollingWaiter:
    """The default: no event source, so sleep one polling interval (never past the deadline)."""

    def __init__(self, interval: float = DEFAULT_POLL_SECONDS) -> None:
        self.interval = interval

    async def wait(self, object_id: str, timeout: float) -> None:
        await anyio.sleep(max(0.0, min(self.interval, timeout)))


_waiter: ChangeWaiter = PollingWaiter()


def set_waiter(waiter: ChangeWaiter) -> ChangeWaiter:
    """Plug in what wakes waits (e.g. a webhook receiver's change feed); returns the previous one."""
    global _waiter
    previous, _waiter = _waiter, waiter
    return previous


class WaitResult(Response):
    """Where the object stands when the wait ended."""

    id: str = Field(description="Id.")
    type: str = Field(description="Persona type.")
    status: str | None = Field(None, description="Status now.")
    reached: bool = Field(description="Whether it reached a wanted status.")
    checks: int = Field(description="Times it was read.")
    next_step: str | None = Field(None, description="What to do if it has not.")


_Statuses = Annotated[
    list[Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]], Field(min_length=1, max_length=10)
]
_TIMEOUT = Field(30, ge=1, le=MAX_WAIT_SECONDS, description="Most seconds to wait (max 60).")


class WaitForInquiry(ToolInput):
    inquiry_id: InquiryId = Field(description="The inquiry.")
    statuses: _Statuses = Field(description="Stop at any of these, e.g. completed, approved.")
    timeout_seconds: int = _TIMEOUT


class WaitForReport(ToolInput):
    report_id: ReportId = Field(description="The report.")
    statuses: _Statuses = Field(["ready", "errored"], description="Stop at any of these.")
    timeout_seconds: int = _TIMEOUT


def waiting_handler(
    template: str, id_field: str, again: str
) -> Callable[[ToolContext, Any], Awaitable[WaitResult]]:
    """Read `template` until its status is wanted or the time is up; `again` names the tool to call next."""

    async def handler(ctx: ToolContext, args: Any) -> WaitResult:
        object_id: str = getattr(args, id_field)
        wanted = set(args.statuses)
        started = time.monotonic()
        deadline = started + args.timeout_seconds
        checks = 0
        while True:
            # Events Persona creates from here on may tell of a change this read does not see yet.
            since = datetime.now(UTC) - _CLOCK_SKEW
            response = await ctx.persona.get(path_for(template, args))
            resource = response.document.one()
            ctx.touch(resource.id)
            checks += 1
            status = resource.attributes.get("status")
            remaining = deadline - time.monotonic()
            reached = status in wanted
            if reached or remaining <= 0:
                values: dict[str, Any] = {
                    "id": resource.id,
                    "type": resource.type,
                    "status": status,
                    "reached": reached,
                    "checks": checks,
                    "request_id": response.request_id,
                }
                if not reached:
                    values["next_step"] = f"still {status}: call {again} again, or read it later"
                return from_upstream(WaitResult, values, request_id=response.request_id)
            if ctx.progress is not None:
                elapsed = round(time.monotonic() - started, 1)
                await ctx.progress(elapsed, float(args.timeout_seconds), f"status {status}")
            await _wait_for_change(ctx, object_id, remaining, since)

    return handler


#: How far Persona's clock may run behind ours when events are matched to a read.
_CLOCK_SKEW = timedelta(seconds=2)


async def _wait_for_change(ctx: ToolContext, object_id: str, remaining: float, since: datetime) -> None:
    """Until the object may have changed. With the server's webhook receiver (`ctx.events`), a verified
    event about the object, received by any replica, wakes the wait at once; the polling interval still
    bounds each wait, so an organisation whose webhooks are not connected to this server keeps polling.
    An injected waiter (`set_waiter`) is used as given."""
    if ctx.events is not None and isinstance(_waiter, PollingWaiter):
        bound = max(0.0, min(remaining, _waiter.interval))
        await ctx.events.wait_for(object_id, created_after=since, timeout=bound)
        return
    await _waiter.wait(object_id, remaining)


wait_for_inquiry = ToolSpec(
    name="wait_for_inquiry",
    toolset="inquiries",
    title="Wait for an inquiry's status",
    description=describe(
        "Wait (up to 60 s) until an inquiry reaches one of the statuses.",
        use_when="the next step needs the user or a review to finish.",
        ids="list_inquiries.",
    ),
    scope=Scope.INQUIRIES_READ,
    effect=Effect.READ,
    input_model=WaitForInquiry,
    output_model=WaitResult,
    operations=(),
    polls=("inquiries.retrieve",),
    handler=waiting_handler("/inquiries/{inquiry_id}", "inquiry_id", "wait_for_inquiry"),
)

wait_for_report = ToolSpec(
    name="wait_for_report",
    toolset="reports",
    title="Wait for a report to finish",
    description=describe(
        "Wait (up to 60 s) until a report is ready (or another status).",
        use_when="create_report or rerun_report returned it pending.",
        ids="list_reports.",
    ),
    scope=Scope.REPORTS_READ,
    effect=Effect.READ,
    input_model=WaitForReport,
    output_model=WaitResult,
    operations=(),
    polls=("reports.retrieve",),
    handler=waiting_handler("/reports/{report_id}", "report_id", "wait_for_report"),
)
