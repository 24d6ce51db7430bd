"""Workflows: trigger a run, follow runs, list the versions a workflow published (4 operations).

Triggering runs whatever the workflow does (it may approve, tag or notify), so it is a write under
`workflows:write`. Run inputs are personal data as far as this server knows.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import ObjectKind, WorkflowId, WorkflowRunId
from persona_mcp.pii import PII
from persona_mcp.tools.bodies import attributes_body
from persona_mcp.tools.describe import describe
from persona_mcp.tools.factories import Method, action_tool, get_tool, list_tool
from persona_mcp.tools.inputs import CustomFields, PageInput, ToolInput
from persona_mcp.tools.results import ObjectView, Page, Rel, Response
from persona_mcp.tools.spec import Activity, Effect

TOOLSET = "workflows"


class RunStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


class WorkflowRun(ObjectView):
    """A workflow run."""

    status: str | None = Field(None, description="in_progress, completed, failed, ...")
    workflow_id: Annotated[str | None, Rel("workflow")] = Field(None, description="wfl_...")
    created_at: str | None = Field(None, description="ISO 8601.")
    completed_at: str | None = Field(None, description="ISO 8601.")


class WorkflowRunResult(WorkflowRun, Response):
    """One run."""

    workflow_version_id: Annotated[str | None, Rel("workflow-version")] = Field(None, description="wfv_...")


class WorkflowRunPage(Page):
    items: list[WorkflowRun] = Field(description="Runs, newest first.")


class WorkflowVersion(ObjectView):
    """A workflow version."""

    workflow_name: str | None = Field(None, description="Workflow name.")
    status: str | None = Field(None, description="draft or published.")
    trigger_type: str | None = Field(None, description="What starts it, e.g. api.")
    workflow_id: Annotated[str | None, Rel("workflow")] = Field(None, description="wfl_...")
    published_at: str | None = Field(None, description="ISO 8601.")


class WorkflowVersionPage(Page):
    items: list[WorkflowVersion] = Field(description="Versions, newest first.")


class TriggerWorkflow(ToolInput):
    workflow_id: WorkflowId = Field(
        description="The workflow (Persona dashboard, or list_workflow_versions)."
    )
    fields: Annotated[CustomFields, PII] = Field(description="Run inputs: key -> value.")


class ListRuns(PageInput):
    status: RunStatus | None = Field(None, description="Only runs in this status.")


class RunRef(ToolInput):
    workflow_run_id: WorkflowRunId = Field(description="The run.")


class ListVersions(PageInput):
    workflow_id: WorkflowId | None = Field(None, description="Only this workflow's versions.")


def _trigger_body(args: TriggerWorkflow) -> dict[str, Any]:
    return attributes_body({"fields": args.fields})


trigger_workflow = action_tool(
    name="trigger_workflow",
    toolset=TOOLSET,
    title="Trigger a workflow run",
    description=describe(
        "Start a run of an API-triggered workflow with its inputs.",
        use_when="a workflow must run now, e.g. re-screen an account.",
        ids="list_workflow_versions.",
    ),
    scope=Scope.WORKFLOWS_WRITE,
    effect=Effect.WRITE,
    activity=Activity.CREATE,
    operation="workflows.create_run",
    input_model=TriggerWorkflow,
    result=WorkflowRunResult,
    method=Method.POST,
    path="/workflows/{workflow_id}/trigger",
    body=_trigger_body,
)

list_workflow_runs = list_tool(
    name="list_workflow_runs",
    toolset=TOOLSET,
    title="List workflow runs",
    description=describe("List workflow runs, newest first.", use_when="following automated work."),
    scope=Scope.WORKFLOWS_READ,
    operation="workflows.list_runs",
    input_model=ListRuns,
    page=WorkflowRunPage,
    view=WorkflowRun,
    path="/workflow-runs",
    finds=ObjectKind.WORKFLOW_RUN,
    filters=lambda args: {"filter[status]": args.status.value} if args.status else {},
)

get_workflow_run = get_tool(
    name="get_workflow_run",
    toolset=TOOLSET,
    title="Get a workflow run",
    description=describe(
        "Read one workflow run.", use_when="a run may have finished.", ids="list_workflow_runs."
    ),
    scope=Scope.WORKFLOWS_READ,
    operation="workflows.retrieve_run",
    input_model=RunRef,
    result=WorkflowRunResult,
    path="/workflow-runs/{workflow_run_id}",
)

list_workflow_versions = list_tool(
    name="list_workflow_versions",
    toolset=TOOLSET,
    title="List workflow versions",
    description=describe(
        "List workflow versions with their workflow ids.", use_when="you need a workflow id or its trigger."
    ),
    scope=Scope.WORKFLOWS_READ,
    operation="workflows.list_versions",
    input_model=ListVersions,
    page=WorkflowVersionPage,
    view=WorkflowVersion,
    path="/workflow-versions",
    finds=ObjectKind.WORKFLOW_VERSION,
    filters=lambda args: {"filter[workflow-id]": args.workflow_id} if args.workflow_id else {},
)

TOOLS = (trigger_workflow, list_workflow_runs, get_workflow_run, list_workflow_versions)
