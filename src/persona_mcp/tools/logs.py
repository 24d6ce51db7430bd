"""Logs: Persona's record of API requests (API logs) and of dashboard users' actions (user audit logs).

Covers the 2 `api_logs.*` and 2 `user_audit_logs.*` operations under `logs:read`. Request and response
parameters, IP addresses and user agents may hold personal data, so they are marked PII. An API log's
id is the request id (`req_...`) that every Persona answer carries and every tool result reports.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import ApiLogId, ObjectKind, UserAuditLogId
from persona_mcp.pii import PII
from persona_mcp.tools.describe import describe
from persona_mcp.tools.factories import get_tool, list_tool
from persona_mcp.tools.inputs import PageInput, ToolInput
from persona_mcp.tools.results import Attr, ObjectView, Page, Rel, Response

TOOLSET = "logs"


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
    created_at: str | None = Field(None, description="ISO 8601.")


class ApiLogResult(ApiLog, Response):
    """An API log with the request and response as Persona recorded them."""

    request: Annotated[dict[str, Any] | None, PII] = Field(None, description="Headers, parameters, IP.")
    response: Annotated[dict[str, Any] | None, PII] = Field(None, description="Status and headers.")


class ApiLogPage(Page):
    items: list[ApiLog] = Field(description="API logs, newest first.")


class UserAuditLog(ObjectView):
    """One dashboard request of a Persona user."""

    method: str | None = Field(None, description="HTTP method.")
    path: str | None = Field(None, description="Dashboard path.")
    response_status: int | None = Field(None, description="Answer status.")
    user_id: Annotated[str | None, Rel("user")] = Field(None, description="The user.")
    created_at: str | None = Field(None, description="ISO 8601.")


class UserAuditLogResult(UserAuditLog, Response):
    """A user audit log with its parameters."""

    ip_address: Annotated[str | None, PII] = Field(None, description="User's IP address.")
    user_agent: Annotated[str | None, PII] = Field(None, description="User's browser.")
    impersonator_email_address: Annotated[str | None, PII] = Field(None, description="Set if impersonated.")
    get_params: Annotated[dict[str, Any] | None, PII] = Field(None, description="Query parameters.")
    post_params: Annotated[dict[str, Any] | None, PII] = Field(None, description="Body parameters.")


class UserAuditLogPage(Page):
    items: list[UserAuditLog] = Field(description="User audit logs, newest first.")


class ApiLogRef(ToolInput):
    api_log_id: ApiLogId = Field(description="The API log: a request id, req_...")


class UserAuditLogRef(ToolInput):
    user_audit_log_id: UserAuditLogId = Field(description="The user audit log.")


list_api_logs = list_tool(
    name="list_api_logs",
    toolset=TOOLSET,
    title="List API logs",
    description=describe(
        "List Persona's log of API requests, newest first.",
        use_when="tracing what an integration sent.",
        avoid="for this server's own record: query_audit_log.",
    ),
    scope=Scope.LOGS_READ,
    operation="api_logs.list",
    input_model=PageInput,
    page=ApiLogPage,
    view=ApiLog,
    path="/api-logs",
    finds=ObjectKind.API_LOG,
)

get_api_log = get_tool(
    name="get_api_log",
    toolset=TOOLSET,
    title="Get an API log",
    description=describe(
        "Read one API request with its headers and parameters.",
        use_when="a result's request_id needs explaining.",
        ids="list_api_logs, or a request_id.",
    ),
    scope=Scope.LOGS_READ,
    operation="api_logs.retrieve",
    input_model=ApiLogRef,
    result=ApiLogResult,
    path="/api-logs/{api_log_id}",
)

list_user_audit_logs = list_tool(
    name="list_user_audit_logs",
    toolset=TOOLSET,
    title="List user audit logs",
    description=describe(
        "List what Persona dashboard users did, newest first.",
        use_when="reviewing people's actions in the dashboard.",
    ),
    scope=Scope.LOGS_READ,
    operation="user_audit_logs.list",
    input_model=PageInput,
    page=UserAuditLogPage,
    view=UserAuditLog,
    path="/user-audit-logs",
    finds=ObjectKind.USER_AUDIT_LOG,
)

get_user_audit_log = get_tool(
    name="get_user_audit_log",
    toolset=TOOLSET,
    title="Get a user audit log",
    description=describe(
        "Read one dashboard user action with its parameters.",
        use_when="an action needs its details.",
        ids="list_user_audit_logs.",
    ),
    scope=Scope.LOGS_READ,
    operation="user_audit_logs.retrieve",
    input_model=UserAuditLogRef,
    result=UserAuditLogResult,
    path="/user-audit-logs/{user_audit_log_id}",
)

TOOLS = (list_api_logs, get_api_log, list_user_audit_logs, get_user_audit_log)
