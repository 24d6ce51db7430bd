"""Webhooks: where Persona sends event notifications.

Covers the 9 tier-1 `webhooks.*` operations. Archiving and secret rotation end something (a webhook, a
signing secret) and need `webhooks:delete`. Results never carry signing secrets: an agent has no use for
them, and a secret in a transcript is a secret leaked.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import ObjectKind, WebhookId
from persona_mcp.pii import FIXED_PATTERN, PII
from persona_mcp.tools.bodies import attributes_body, meta_body, pick
from persona_mcp.tools.describe import describe
from persona_mcp.tools.factories import Method, action_tool, get_tool, list_tool, one_result, path_for, send
from persona_mcp.tools.input_rules import AtLeastOne
from persona_mcp.tools.inputs import PageInput, ToolInput
from persona_mcp.tools.results import ObjectView, Page, Response
from persona_mcp.tools.spec import Activity, Effect, ToolContext, ToolSpec

TOOLSET = "webhooks"

#: `*` or an event name such as `inquiry.approved`, `connect/share-token.inbound-created`.
EVENT_NAME = r"^(\*|[a-z][a-z-]*(/[a-z-]+)?\.[a-z][a-z-]*)$"
#: No userinfo: nothing before the host may carry `user:password@` (the URL would put it in Persona's and our
#: records); an `@` is allowed after the first `/`, `?` or `#`.
HTTPS_URL = r"^https://[^\s/?#@]{1,255}([/?#]\S{0,2000})?$"
EventName = Annotated[str, Field(pattern=EVENT_NAME), FIXED_PATTERN]

# -- models ------------------------------------------------------------------------------------------------


class Webhook(ObjectView):
    """A webhook (its signing secrets are never included)."""

    name: str | None = Field(None, description="Webhook name.")
    status: str | None = Field(None, description="enabled, disabled or archived.")
    url: str | None = Field(None, description="Where events are sent.")
    enabled_events: list[str] = Field(default_factory=list, description="Event names sent.")


class WebhookResult(Webhook, Response):
    """One webhook."""

    api_version: str | None = Field(None, description="Persona API version of payloads.")
    created_at: str | None = Field(None, description="ISO 8601.")


class WebhookChanged(ObjectView, Response):
    """The webhook after the change."""

    status: str | None = Field(None, description="enabled, disabled or archived.")


class WebhookPage(Page):
    items: list[Webhook] = Field(description="Webhooks, newest first.")


class WebhookRef(ToolInput):
    webhook_id: WebhookId = Field(description="The webhook.")


class ListWebhooks(PageInput):
    """One page of webhooks."""


class _WebhookAttributes(ToolInput):
    description: str | None = Field(None, max_length=1000, description="What the webhook is for.")
    api_version: Annotated[str | None, FIXED_PATTERN] = Field(
        None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="API version of payloads, e.g. 2025-12-08."
    )
    file_access_token_expires_in: int | None = Field(
        None, ge=60, le=259_200, description="Lifetime of file links in payloads (s)."
    )


class CreateWebhook(_WebhookAttributes):
    name: str = Field(min_length=1, max_length=255, description="Webhook name.")
    # PII: the audit keeps a digest, since URLs may carry tokens in their query string.
    url: Annotated[str, PII] = Field(pattern=HTTPS_URL, description="HTTPS endpoint, no user:pass@.")
    enabled_events: list[EventName] = Field(
        min_length=1, max_length=200, description="Event names, e.g. inquiry.approved; `*` for all."
    )


_UPDATABLE = ("name", "url", "enabled_events", "description", "api_version", "file_access_token_expires_in")


class UpdateWebhook(_WebhookAttributes):
    webhook_id: WebhookId = Field(description="The webhook.")
    name: str | None = Field(None, min_length=1, max_length=255, description="New name.")
    url: Annotated[str | None, PII] = Field(
        None, pattern=HTTPS_URL, description="New HTTPS endpoint, no user:pass@."
    )
    enabled_events: list[EventName] | None = Field(
        None, min_length=1, max_length=200, description="New complete list of event names."
    )

    rules = (AtLeastOne(_UPDATABLE),)


class WebhookSwitch(ToolInput):
    webhook_id: WebhookId = Field(description="The webhook.")
    enabled: bool = Field(description="true: deliver events; false: pause.")


class RotateSecret(ToolInput):
    webhook_id: WebhookId = Field(description="The webhook.")
    expires_in_seconds: int | None = Field(
        None, ge=0, le=604_800, description="Grace period of the old secret (s)."
    )


_ONE = "/webhooks/{webhook_id}"
_IDS = "list_webhooks."

# -- bodies ------------------------------------------------------------------------------------------------


def _create_body(args: CreateWebhook) -> dict[str, Any]:
    return attributes_body(pick(args, _UPDATABLE))


def _update_body(args: UpdateWebhook) -> dict[str, Any]:
    return attributes_body(pick(args, _UPDATABLE))


def _rotate_body(args: RotateSecret) -> dict[str, Any] | None:
    return meta_body(pick(args, ("expires_in_seconds",)))


async def switch_webhook(ctx: ToolContext, args: WebhookSwitch) -> WebhookChanged:
    """`enable` and `disable` are two endpoints for one switch."""
    action = "enable" if args.enabled else "disable"
    response = await send(ctx, Method.POST, path_for(f"{_ONE}/{action}", args))
    return one_result(ctx, WebhookChanged, response)


# -- specs ---------------------------------------------------------------------------------------------------


list_webhooks = list_tool(
    name="list_webhooks",
    toolset=TOOLSET,
    title="List webhooks",
    description=describe(
        "List webhooks with URL, events, status.",
        use_when="you need a webhook id.",
    ),
    scope=Scope.WEBHOOKS_READ,
    operation="webhooks.list",
    input_model=ListWebhooks,
    page=WebhookPage,
    view=Webhook,
    path="/webhooks",
    finds=ObjectKind.WEBHOOK,
)

get_webhook = get_tool(
    name="get_webhook",
    toolset=TOOLSET,
    title="Get a webhook",
    description=describe("Read one webhook (without secrets).", use_when="you know its id.", ids=_IDS),
    scope=Scope.WEBHOOKS_READ,
    operation="webhooks.retrieve",
    input_model=WebhookRef,
    result=WebhookResult,
    path=_ONE,
)

create_webhook = action_tool(
    name="create_webhook",
    toolset=TOOLSET,
    title="Create a webhook",
    description=describe(
        "Register an HTTPS endpoint for events.",
        use_when="a system must get events.",
        avoid="to copy one: clone_webhook.",
    ),
    scope=Scope.WEBHOOKS_WRITE,
    effect=Effect.WRITE,
    activity=Activity.CREATE,
    operation="webhooks.create",
    input_model=CreateWebhook,
    result=WebhookChanged,
    method=Method.POST,
    path="/webhooks",
    body=_create_body,
)

update_webhook = action_tool(
    name="update_webhook",
    toolset=TOOLSET,
    title="Update a webhook",
    description=describe(
        "Change a webhook's name, URL or events.",
        use_when="its events or URL change.",
        ids=_IDS,
        avoid="to pause: set_webhook_enabled.",
    ),
    scope=Scope.WEBHOOKS_WRITE,
    effect=Effect.WRITE,
    operation="webhooks.update",
    input_model=UpdateWebhook,
    result=WebhookChanged,
    method=Method.PATCH,
    path=_ONE,
    body=_update_body,
    idempotent=True,
)

archive_webhook = action_tool(
    name="archive_webhook",
    toolset=TOOLSET,
    title="Archive a webhook",
    description=describe(
        "Archive a webhook for good.",
        use_when="its endpoint is retired.",
        ids=_IDS,
        avoid="to pause: set_webhook_enabled.",
    ),
    scope=Scope.WEBHOOKS_DELETE,
    effect=Effect.DESTRUCTIVE,
    activity=Activity.DELETE,
    operation="webhooks.archive",
    input_model=WebhookRef,
    result=WebhookChanged,
    method=Method.POST,
    path=_ONE + "/archive",
    idempotent=True,
)

set_webhook_enabled = ToolSpec(
    name="set_webhook_enabled",
    toolset=TOOLSET,
    title="Enable or disable a webhook",
    description=describe(
        "Start or pause event delivery to a webhook.",
        use_when="delivery must resume or pause.",
        ids=_IDS,
        avoid="to retire it: archive_webhook.",
    ),
    scope=Scope.WEBHOOKS_WRITE,
    effect=Effect.WRITE,
    input_model=WebhookSwitch,
    output_model=WebhookChanged,
    operations=("webhooks.enable", "webhooks.disable"),
    handler=switch_webhook,
    idempotent=True,
)

rotate_webhook_secret = action_tool(
    name="rotate_webhook_secret",
    toolset=TOOLSET,
    title="Rotate a webhook's signing secret",
    description=describe(
        "Issue a new signing secret; the old one expires.",
        use_when="a secret may have leaked (read it in the dashboard).",
        ids=_IDS,
    ),
    scope=Scope.WEBHOOKS_DELETE,
    effect=Effect.DESTRUCTIVE,
    operation="webhooks.rotate_secret",
    input_model=RotateSecret,
    result=WebhookChanged,
    method=Method.POST,
    path=_ONE + "/rotate-secret",
    body=_rotate_body,
)

clone_webhook = action_tool(
    name="clone_webhook",
    toolset=TOOLSET,
    title="Clone a webhook",
    description=describe(
        "Copy a webhook into a new one.",
        use_when="a similar webhook is needed.",
        ids=_IDS,
    ),
    scope=Scope.WEBHOOKS_WRITE,
    effect=Effect.WRITE,
    activity=Activity.CREATE,
    operation="webhooks.clone",
    input_model=WebhookRef,
    result=WebhookChanged,
    method=Method.POST,
    path=_ONE + "/clone",
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = (
    list_webhooks,
    get_webhook,
    create_webhook,
    update_webhook,
    archive_webhook,
    set_webhook_enabled,
    rotate_webhook_secret,
    clone_webhook,
)
