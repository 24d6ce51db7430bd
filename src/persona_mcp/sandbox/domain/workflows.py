"""Workflows: runs started through the API (`trigger`) and the published versions they run.

A workflow exists before any run (the dashboard builds it); the seed provides one with a published
version. A triggered run takes its `fields` as inputs and finishes at once in the sandbox (`completed`).
"""

from __future__ import annotations

from typing import Any

from persona_mcp.sandbox.clock import now_iso
from persona_mcp.sandbox.domain.shapes import add_shaped
from persona_mcp.sandbox.errors import conflict, invalid_attribute, not_found
from persona_mcp.sandbox.records import Record, ref
from persona_mcp.sandbox.store import SandboxState


def add_workflow(state: SandboxState, workflow_id: str, version_id: str, name: str) -> Record:
    """A workflow (never rendered: no endpoint reads one) and its published version."""
    workflow = state.add_with_id(workflow_id, "workflow", {"name": name})
    add_shaped(
        state,
        "workflows.list_versions",
        "wfv",
        attributes={"status": "published", "workflow-name": name, "live": True},
        relationships={"workflow": ref("workflow", workflow.id)},
        object_id=version_id,
        internal={"workflow": workflow.id},
    )
    workflow.internal["published-version"] = version_id
    return workflow


def trigger(
    state: SandboxState, workflow_id: str, attributes: dict[str, Any], *, object_id: str | None = None
) -> Record:
    workflow = state.records.get(workflow_id)
    if workflow is None or workflow.type != "workflow":
        raise not_found("workflow", workflow_id)
    fields = attributes.get("fields")
    if not isinstance(fields, dict):
        raise invalid_attribute("fields", "data.attributes.fields must be an object of workflow inputs")
    version = workflow.internal.get("published-version")
    if version is None:
        raise conflict(f"Workflow {workflow_id} has no published version")
    stamp = now_iso()
    return add_shaped(
        state,
        "workflows.create_run",
        "wfr",
        attributes={"status": "completed", "created-at": stamp, "completed-at": stamp},
        relationships={
            "workflow-version": ref("workflow-version", version),
            "workflow": ref("workflow", workflow.id),
            "creator": {"data": None},
        },
        object_id=object_id,
        internal={"workflow": workflow.id, "inputs": dict(fields)},
    )
