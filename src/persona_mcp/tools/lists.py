"""Lists: named sets of values (block lists, allow lists) Persona matches inquiries against.

Covers the 12 tier-1 `lists.*` operations. The nine `lists.create_<type>_list` endpoints differ only by
type, so they are one tool with a `type` argument. Archiving is a DELETE that keeps the list readable
but inactive, and needs `lists:delete`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from persona_mcp.persona.ids import ObjectKind
from persona_mcp.tools.bodies import attributes_body
from persona_mcp.tools.factories import one_result
from persona_mcp.tools.family import Family
from persona_mcp.tools.input_rules import OnlyFor
from persona_mcp.tools.inputs import PageInput, ToolInput
from persona_mcp.tools.list_types import ListType
from persona_mcp.tools.results import Instant, ObjectView, Rel, Response
from persona_mcp.tools.spec import Activity, Effect, ToolContext, ToolSpec

#: type -> (create path segment, catalogue operation id)
_CREATE: dict[ListType, tuple[str, str]] = {
    ListType.BROWSER_FINGERPRINT: ("browser-fingerprints", "lists.create_browser_fingerprint_list"),
    ListType.COUNTRY: ("countries", "lists.create_country_list"),
    ListType.EMAIL_ADDRESS: ("email-addresses", "lists.create_email_address_list"),
    ListType.GEOLOCATION: ("geolocations", "lists.create_geolocation_list"),
    ListType.GOVERNMENT_ID_NUMBER: ("government-id-numbers", "lists.create_government_id_number_list"),
    ListType.IP_ADDRESS: ("ip-addresses", "lists.create_ip_address_list"),
    ListType.NAME: ("names", "lists.create_name_list"),
    ListType.PHONE_NUMBER: ("phone-numbers", "lists.create_phone_number_list"),
    ListType.STRING: ("strings", "lists.create_string_list"),
}


class ListStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


# -- models ------------------------------------------------------------------------------------------------


class PersonaList(ObjectView):
    """A list as listed (its `type` is `list/<item type>`)."""

    name: str | None = Field(None, description="List name.")
    status: str | None = Field(None, description="active or archived.")
    created_at: Instant = None


class ListResult(PersonaList, Response):
    """One list with the ids of its items."""

    archived_at: Instant = None
    item_ids: Annotated[list[str], Rel("list-items")] = Field(
        default_factory=list, description="Its list items (read with get_list_item)."
    )


class ListChanged(ObjectView, Response):
    """The list after the change."""

    name: str | None = Field(None, description="List name.")
    status: str | None = Field(None, description="active or archived.")


class ListLists(PageInput):
    query_filters = {"status": "filter[status]"}

    status: ListStatus | None = Field(None, description="Only active or only archived lists.")


class CreateList(ToolInput):
    type: ListType = Field(description="What the list holds.")
    name: str = Field(min_length=1, max_length=255, description="List name.")
    allow_fuzzy_name_first: bool | None = Field(
        None, description="Name lists only: match first names fuzzily."
    )

    rules = (OnlyFor("allow_fuzzy_name_first", "type", (ListType.NAME.value,)),)


# -- handlers ----------------------------------------------------------------------------------------------


def create_body(args: CreateList) -> dict[str, Any]:
    attributes: dict[str, Any] = {"name": args.name}
    if args.allow_fuzzy_name_first is not None:
        attributes["allow-fuzzy-name-first"] = args.allow_fuzzy_name_first
    return attributes_body(attributes)


async def create_list_handler(ctx: ToolContext, args: CreateList) -> ListChanged:
    segment, _ = _CREATE[args.type]
    response = await ctx.persona.post(
        f"/list/{segment}", json=create_body(args), idempotency_key=ctx.idempotency_key
    )
    return one_result(ctx, ListChanged, response)


# -- specs ---------------------------------------------------------------------------------------------------

LISTS = Family(toolset="lists", kind=ObjectKind.LIST, changed=ListChanged)

list_lists = LISTS.list(
    """List block/allow lists, newest first.
    Use this when you need a list id or type.""",
    input_model=ListLists,
    view=PersonaList,
)

get_list = LISTS.get(
    "Read one list with its item ids.\nUse this when you need a list's items.", result=ListResult
)

#: The nine `create_<type>_list` operations are one tool with a `type` argument.
create_list = LISTS.custom(
    "create_list",
    "Create a list",
    """Create an empty list of one type.
    Use this when a new block or allow list is needed.
    Do not use it to add values: create_list_item.""",
    effect=Effect.WRITE,
    activity=Activity.CREATE,
    ops=tuple(operation.removeprefix("lists.") for _, operation in _CREATE.values()),
    input_model=CreateList,
    output_model=ListChanged,
    handler=create_list_handler,
)

archive_list = LISTS.archive(
    """Archive a list: it stops matching.
    Use this when a list is retired.
    Do not use it for one value: archive_list_item."""
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = LISTS.declared()
