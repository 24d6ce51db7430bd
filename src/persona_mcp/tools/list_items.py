"""List items: the values inside a list, in eleven types that differ only in their value fields.

The 33 tier-1 `list_items.*` operations (create, retrieve, archive for each type) are three tools with a
`type` argument. The item type picks the path segment Persona requires; where the id prefix tells the
type apart, a mismatching id is refused before anything is sent. Value fields that are personal data
(e-mail, phone, name, government id number, IP address, free values) are marked PII.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from persona_mcp.persona.ids import ListId, ListItemId, ObjectKind
from persona_mcp.pii import FIXED_PATTERN, PII
from persona_mcp.tools.bodies import attributes_body, pick
from persona_mcp.tools.factories import Method, one_result, send
from persona_mcp.tools.family import Family
from persona_mcp.tools.input_rules import FieldsBySelector, PrefixBySelector
from persona_mcp.tools.inputs import CountryCode, ToolInput
from persona_mcp.tools.list_types import ListItemType
from persona_mcp.tools.results import Instant, ObjectView, Response
from persona_mcp.tools.spec import Activity, Effect, ToolContext, ToolSpec


class MatchType(StrEnum):
    EMAIL_ADDRESS = "email_address"
    DOMAIN = "domain"


#: type -> (path segment, operation-id stem)
SEGMENTS: dict[ListItemType, str] = {
    ListItemType.BROWSER_FINGERPRINT: "browser-fingerprints",
    ListItemType.COUNTRY: "countries",
    ListItemType.DEVICE_FINGERPRINT: "device-fingerprints",
    ListItemType.EMAIL_ADDRESS: "email-addresses",
    ListItemType.FIELD: "fields",
    ListItemType.GEOLOCATION: "geolocations",
    ListItemType.GOVERNMENT_ID_NUMBER: "government-id-numbers",
    ListItemType.IP_ADDRESS: "ip-addresses",
    ListItemType.NAME: "names",
    ListItemType.PHONE_NUMBER: "phone-numbers",
    ListItemType.STRING: "strings",
}

#: Id prefixes each type's items carry. Fingerprints share `libf`, names and strings share `lin`
#: (as in Persona's own examples); the other prefixes are distinctive.
ID_PREFIXES: dict[ListItemType, tuple[str, ...]] = {
    ListItemType.BROWSER_FINGERPRINT: ("libf",),
    ListItemType.COUNTRY: ("lic",),
    ListItemType.DEVICE_FINGERPRINT: ("libf", "lidf"),
    ListItemType.EMAIL_ADDRESS: ("liea",),
    ListItemType.FIELD: ("liif", "lif"),
    ListItemType.GEOLOCATION: ("ligl",),
    ListItemType.GOVERNMENT_ID_NUMBER: ("ligin",),
    ListItemType.IP_ADDRESS: ("liip",),
    ListItemType.NAME: ("lin",),
    ListItemType.PHONE_NUMBER: ("lipn",),
    ListItemType.STRING: ("lin", "lis"),
}

#: The value arguments each type requires (create); every other value argument must be absent.
VALUE_FIELDS: dict[ListItemType, tuple[str, ...]] = {
    ListItemType.BROWSER_FINGERPRINT: ("value",),
    ListItemType.COUNTRY: ("country_code",),
    ListItemType.DEVICE_FINGERPRINT: ("value",),
    ListItemType.EMAIL_ADDRESS: ("value", "match_type"),
    ListItemType.FIELD: ("field_value",),
    ListItemType.GEOLOCATION: ("latitude", "longitude", "radius_meters"),
    ListItemType.GOVERNMENT_ID_NUMBER: ("id_number", "id_class"),
    ListItemType.IP_ADDRESS: ("value",),
    ListItemType.NAME: ("name_first", "name_last"),
    ListItemType.PHONE_NUMBER: ("value",),
    ListItemType.STRING: ("value",),
}


def item_path(item_type: ListItemType, item_id: str | None = None) -> str:
    base = f"/list-item/{SEGMENTS[item_type]}"
    return base if item_id is None else f"{base}/{item_id}"


# -- models ------------------------------------------------------------------------------------------------


class ListItemResult(ObjectView, Response):
    """One list item (its `type` is `list-item/<type>`); only its type's value fields are present."""

    status: str | None = Field(None, description="pending, active or archived.")
    value: Annotated[str | None, PII] = Field(None, description="Value (fingerprint, e-mail, IP, ...).")
    match_type: str | None = Field(None, description="email_address or domain.")
    country_code: str | None = Field(None, description="Country.")
    field_value: Annotated[str | None, PII] = Field(None, description="Field value.")
    latitude: float | None = Field(None, description="Latitude.")
    longitude: float | None = Field(None, description="Longitude.")
    radius_meters: float | None = Field(None, description="Radius in metres.")
    id_class: str | None = Field(None, description="Id class, e.g. pp, dl.")
    id_number: Annotated[str | None, PII] = Field(None, description="Id number.")
    name_first: Annotated[str | None, PII] = Field(None, description="First name.")
    name_last: Annotated[str | None, PII] = Field(None, description="Last name.")
    match_count: int | None = Field(None, description="Times it matched.")
    created_at: Instant = None
    archived_at: Instant = None


class ListItemChanged(ObjectView, Response):
    """The list item after the change (read it with get_list_item for the value)."""

    status: str | None = Field(None, description="pending, active or archived.")


class ListItemRef(ToolInput):
    type: ListItemType = Field(description="Item type (= list type).")
    list_item_id: ListItemId = Field(description="The list item.")

    rules = (PrefixBySelector("list_item_id", "type", {t.value: p for t, p in ID_PREFIXES.items()}),)


class CreateListItem(ToolInput):
    type: ListItemType = Field(description="Item type (= list type).")
    list_id: ListId = Field(description="The list.")
    value: Annotated[str | None, PII] = Field(
        None,
        min_length=1,
        max_length=500,
        description="Value for other types.",
    )
    match_type: MatchType | None = Field(None, description="email-address.")
    country_code: CountryCode | None = Field(None, description="country.")
    field_value: Annotated[str | None, PII] = Field(None, min_length=1, max_length=500, description="field.")
    latitude: float | None = Field(None, ge=-90, le=90, description="geolocation.")
    longitude: float | None = Field(None, ge=-180, le=180, description="geolocation.")
    radius_meters: float | None = Field(None, gt=0, le=1_000_000, description="geolocation (m).")
    id_number: Annotated[str | None, PII] = Field(
        None, min_length=1, max_length=100, description="government-id-number."
    )
    id_class: Annotated[str | None, FIXED_PATTERN] = Field(
        None, pattern=r"^[a-z_]{1,32}$", description="government-id-number: pp, dl, ..."
    )
    name_first: Annotated[str | None, PII] = Field(None, description="name.")
    name_last: Annotated[str | None, PII] = Field(None, description="name.")

    rules = (FieldsBySelector("type", {t.value: names for t, names in VALUE_FIELDS.items()}),)


# -- handlers ----------------------------------------------------------------------------------------------


def create_body(args: CreateListItem) -> dict[str, Any]:
    return attributes_body({"list-id": args.list_id} | pick(args, VALUE_FIELDS[args.type]))


async def create_item(ctx: ToolContext, args: CreateListItem) -> ListItemChanged:
    ctx.touch(args.list_id)
    response = await send(ctx, Method.POST, item_path(args.type), create_body(args))
    return one_result(ctx, ListItemChanged, response)


async def get_item(ctx: ToolContext, args: ListItemRef) -> ListItemResult:
    response = await send(ctx, Method.GET, item_path(args.type, args.list_item_id))
    return one_result(ctx, ListItemResult, response)


async def archive_item(ctx: ToolContext, args: ListItemRef) -> ListItemChanged:
    response = await send(ctx, Method.DELETE, item_path(args.type, args.list_item_id))
    return one_result(ctx, ListItemChanged, response)


# -- specs ---------------------------------------------------------------------------------------------------

#: One path per item type (`item_path`), so the tools have handlers of their own; the family gives the rest.
ITEMS = Family(
    toolset="list_items",
    kind=ObjectKind.LIST_ITEM,
    path="/list-item/{list_item_id}",
    ids="get_list (item_ids).",
    changed=ListItemChanged,
)


def _operations(verb: str) -> tuple[str, ...]:
    return tuple(f"{verb}_{item_type.value.replace('-', '_')}" for item_type in ListItemType)


create_list_item = ITEMS.custom(
    "create_list_item",
    "Add a value to a list",
    """Add one value to a list (fields of its type only).
    Use this when a value must be blocked or allowed.
    IDs: list_lists (id and type).
    Do not use it to edit: archive and re-add.""",
    effect=Effect.WRITE,
    activity=Activity.CREATE,
    ops=_operations("create"),
    input_model=CreateListItem,
    output_model=ListItemChanged,
    handler=create_item,
)

get_list_item = ITEMS.custom(
    "get_list_item",
    "Get a list item",
    """Read one list item and its value.
    Use this when you need a value in a list.""",
    effect=Effect.READ,
    ops=_operations("retrieve"),
    input_model=ListItemRef,
    output_model=ListItemResult,
    handler=get_item,
)

archive_list_item = ITEMS.custom(
    "archive_list_item",
    "Archive a list item",
    """Archive one list item: it stops matching.
    Use this when a value leaves a list.
    Do not use it for a whole list: archive_list.""",
    effect=Effect.DESTRUCTIVE,
    activity=Activity.DELETE,
    ops=_operations("archive"),
    input_model=ListItemRef,
    output_model=ListItemChanged,
    handler=archive_item,
    idempotent=True,
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = ITEMS.declared()
