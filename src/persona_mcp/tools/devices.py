"""Devices: the devices Persona saw in inquiry sessions, with their fingerprints (2 operations)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import DeviceId, InquirySessionId, ObjectKind
from persona_mcp.pii import PII
from persona_mcp.tools.describe import describe
from persona_mcp.tools.factories import get_tool, list_tool
from persona_mcp.tools.inputs import PageInput, ToolInput
from persona_mcp.tools.results import ObjectView, Page, Response

TOOLSET = "devices"


class Device(ObjectView):
    """A device; fingerprints identify a person's device, so they are personal data."""

    device_fingerprint: Annotated[str | None, PII] = Field(None, description="Device fingerprint.")
    browser_fingerprint: Annotated[str | None, PII] = Field(None, description="Browser fingerprint.")
    device_vendor_id: Annotated[str | None, PII] = Field(None, description="Vendor id.")


class DeviceResult(Device, Response):
    """One device."""


class DevicePage(Page):
    items: list[Device] = Field(description="Devices.")


class ListDevices(PageInput):
    inquiry_session_id: InquirySessionId = Field(description="Devices of this inquiry session.")


class DeviceRef(ToolInput):
    device_id: DeviceId = Field(description="The device.")


list_devices = list_tool(
    name="list_devices",
    toolset=TOOLSET,
    title="List devices",
    description=describe(
        "List the devices of an inquiry session.",
        use_when="checking which device a person used.",
        ids="list_inquiry_sessions.",
    ),
    scope=Scope.DEVICES_READ,
    operation="devices.list",
    input_model=ListDevices,
    page=DevicePage,
    view=Device,
    path="/devices",
    finds=ObjectKind.DEVICE,
    filters=lambda args: {"filter[inquiry-session-id]": args.inquiry_session_id},
)

get_device = get_tool(
    name="get_device",
    toolset=TOOLSET,
    title="Get a device",
    description=describe("Read one device.", use_when="you have its id.", ids="list_devices."),
    scope=Scope.DEVICES_READ,
    operation="devices.retrieve",
    input_model=DeviceRef,
    result=DeviceResult,
    path="/devices/{device_id}",
)

TOOLS = (list_devices, get_device)
