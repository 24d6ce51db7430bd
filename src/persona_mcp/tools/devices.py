"""Devices: the devices Persona saw in inquiry sessions, with their fingerprints (2 operations)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from persona_mcp.persona.ids import InquirySessionId, ObjectKind
from persona_mcp.pii import PII
from persona_mcp.tools.family import Family
from persona_mcp.tools.inputs import PageInput
from persona_mcp.tools.results import ObjectView, Response
from persona_mcp.tools.spec import ToolSpec


class Device(ObjectView):
    """A device; fingerprints identify a person's device, so they are personal data."""

    device_fingerprint: Annotated[str | None, PII] = Field(None, description="Device fingerprint.")
    browser_fingerprint: Annotated[str | None, PII] = Field(None, description="Browser fingerprint.")
    device_vendor_id: Annotated[str | None, PII] = Field(None, description="Vendor id.")


class DeviceResult(Device, Response):
    """One device."""


class ListDevices(PageInput):
    query_filters = {"inquiry_session_id": "filter[inquiry-session-id]"}

    inquiry_session_id: InquirySessionId = Field(description="Devices of this inquiry session.")


DEVICES = Family(toolset="devices", kind=ObjectKind.DEVICE)

list_devices = DEVICES.list(
    """List the devices of an inquiry session.
    Use this when checking which device a person used.
    IDs: list_inquiry_sessions.""",
    input_model=ListDevices,
    view=Device,
)

get_device = DEVICES.get(
    """Read one device.
    Use this when you have its id.""",
    result=DeviceResult,
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = DEVICES.declared()
