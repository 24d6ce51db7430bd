"""Workflows: trigger a run, follow runs, list the versions a workflow published (4 operations).

Triggering runs whatever the workflow does (it may approve, tag or notify), so it is a write under
`workflows:write`. Run inputs are personal data as far as this server knows.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from persona_mcp.persona.ids import ObjectKind, WorkflowId
from persona_mcp.pii import PII
from persona_mcp.tools.bodies import attributes_body
from persona_mcp.tools.family import Family
from persona_mcp.tools.inputs import CustomFields, PageInput, ToolInput
from persona_mcp.tools.results import Instant, ObjectView, Rel, Response
from persona_mcp.tools.spec import ToolSpec

#: The workflow a run or version belongs to.
WorkflowOf = Annotated[str | None, Rel("workflow"), Field(description="wfl_...")]


class WorkflowRun(ObjectView):
    """A workflow run."""

    status: str | None = Field(None, description="in_progress, completed, failed, ...")
    workflow_id: WorkflowOf = None
    created_at: Instant = None
    completed_at: Instant = None


class WorkflowRunResult(WorkflowRun, Response):
    """One run."""

    workflow_version_id: Annotated[str | None, Rel("workflow-version")] = Field(None, description="wfv_...")


class WorkflowVersion(ObjectView):
    """A workflow version."""

    workflow_name: str | None = Field(None, description="Workflow name.")
    status: str | None = Field(None, description="draft or published.")
    trigger_type: str | None = Field(None, description="What starts it, e.g. api.")
    workflow_id: WorkflowOf = None
    published_at: Instant = None


class TriggerWorkflow(ToolInput):
    workflow_id: WorkflowId = Field(
        description="The workflow (Persona dashboard, or list_workflow_versions)."
    )
    fields: Annotated[CustomFields, PII] = Field(description="Run inputs: key -> value.")


class RunStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


class ListRuns(PageInput):
    query_filters = {"status": "filter[status]"}

    status: RunStatus | None = Field(None, description="Only runs in this status.")


class ListVersions(PageInput):
    query_filters = {"workflow_id": "filter[workflow-id]"}

    workflow_id: WorkflowId | None = Field(None, description="Only this workflow's versions.")


def _trigger_body(args: TriggerWorkflow) -> dict[str, Any]:
    return attributes_body({"fields": args.fields})


RUNS = Family(toolset="workflows", kind=ObjectKind.WORKFLOW_RUN, changed=WorkflowRunResult)
VERSIONS = Family(toolset="workflows", kind=ObjectKind.WORKFLOW_VERSION)

trigger_workflow = RUNS.create(
    """Start a run of an API-triggered workflow with its inputs.
    Use this when a workflow must run now, e.g. re-screen an account.
    IDs: list_workflow_versions.""",
    name="trigger_workflow",
    title="Trigger a workflow run",
    op="create_run",
    path="/workflows/{workflow_id}/trigger",
    input_model=TriggerWorkflow,
    body=_trigger_body,
)

list_workflow_runs = RUNS.list(
    """List workflow runs, newest first.
    Use this when following automated work.""",
    op="list_runs",
    input_model=ListRuns,
    view=WorkflowRun,
)

get_workflow_run = RUNS.get(
    """Read one workflow run.
    Use this when a run may have finished.""",
    op="retrieve_run",
    result=WorkflowRunResult,
)

list_workflow_versions = VERSIONS.list(
    """List workflow versions with their workflow ids.
    Use this when you need a workflow id or its trigger.""",
    op="list_versions",
    input_model=ListVersions,
    view=WorkflowVersion,
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = (*RUNS.declared(), *VERSIONS.declared())
