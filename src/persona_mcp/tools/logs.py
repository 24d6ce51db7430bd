"""Logs: Persona's record of API requests (API logs) and of dashboard users' actions (user audit logs).

Covers the 2 `api_logs.*` and 2 `user_audit_logs.*` operations under `logs:read`. Request and response
parameters, IP addresses and user agents may hold personal data, so they are marked PII. An API log's
id is the request id (`req_...`) that every Persona answer carries and every tool result reports.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from persona_mcp.persona.ids import ApiLogId, ObjectKind
from persona_mcp.pii import PII
from persona_mcp.tools.family import Family
from persona_mcp.tools.inputs import PageInput, ToolInput
from persona_mcp.tools.results import Attr, Instant, ObjectView, Rel, Response
from persona_mcp.tools.spec import ToolSpec


def _method(request: Any) -> Any:
    return request.get("method") if isinstance(request, dict) else None


def _path(request: Any) -> Any:
    return request.get("path") if isinstance(request, dict) else None


def _status(response: Any) -> Any:
    return response.get("status") if isinstance(response, dict) else None


class ApiLog(ObjectView):
    """One API request to Persona and its answer's status."""

    method: Annotated[str | None, Attr("request", _method)] = Field(None, description="HTTP method.")
    path: Annotated[str | None, Attr("request", _path)] = Field(None, description="Request path.")
    status: Annotated[int | None, Attr("response", _status)] = Field(None, description="Answer status.")
    created_at: Instant = None


class ApiLogResult(ApiLog, Response):
    """An API log with the request and response as Persona recorded them."""

    request: Annotated[dict[str, Any] | None, PII] = Field(None, description="Headers, parameters, IP.")
    response: Annotated[dict[str, Any] | None, PII] = Field(None, description="Status and headers.")


class UserAuditLog(ObjectView):
    """One dashboard request of a Persona user."""

    method: str | None = Field(None, description="HTTP method.")
    path: str | None = Field(None, description="Dashboard path.")
    response_status: int | None = Field(None, description="Answer status.")
    user_id: Annotated[str | None, Rel("user")] = Field(None, description="The user.")
    created_at: Instant = None


class UserAuditLogResult(UserAuditLog, Response):
    """A user audit log with its parameters."""

    ip_address: Annotated[str | None, PII] = Field(None, description="User's IP address.")
    user_agent: Annotated[str | None, PII] = Field(None, description="User's browser.")
    impersonator_email_address: Annotated[str | None, PII] = Field(None, description="Set if impersonated.")
    get_params: Annotated[dict[str, Any] | None, PII] = Field(None, description="Query parameters.")
    post_params: Annotated[dict[str, Any] | None, PII] = Field(None, description="Body parameters.")


class ApiLogRef(ToolInput):
    api_log_id: ApiLogId = Field(description="The API log: a request id, req_...")


API_LOGS = Family(toolset="logs", kind=ObjectKind.API_LOG, operations="api_logs", label="API log")
USER_AUDIT_LOGS = Family(toolset="logs", kind=ObjectKind.USER_AUDIT_LOG, operations="user_audit_logs")

list_api_logs = API_LOGS.list(
    """List Persona's log of API requests, newest first.
    Use this when tracing what an integration sent.
    Do not use it for this server's own record: query_audit_log.""",
    input_model=PageInput,
    view=ApiLog,
)

get_api_log = API_LOGS.get(
    """Read one API request with its headers and parameters.
    Use this when a result's request_id needs explaining.
    IDs: list_api_logs, or a request_id.""",
    result=ApiLogResult,
    input_model=ApiLogRef,
)

list_user_audit_logs = USER_AUDIT_LOGS.list(
    """List what Persona dashboard users did, newest first.
    Use this when reviewing people's actions in the dashboard.""",
    input_model=PageInput,
    view=UserAuditLog,
)

get_user_audit_log = USER_AUDIT_LOGS.get(
    """Read one dashboard user action with its parameters.
    Use this when an action needs its details.""",
    result=UserAuditLogResult,
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = (*API_LOGS.declared(), *USER_AUDIT_LOGS.declared())
