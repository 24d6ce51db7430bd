"""Webhooks: where Persona sends event notifications.

Covers the 9 tier-1 `webhooks.*` operations. Archiving and secret rotation end something (a webhook, a
signing secret) and need `webhooks:delete`. Results never carry signing secrets: an agent has no use for
them, and a secret in a transcript is a secret leaked.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from persona_mcp.persona.ids import ObjectKind, WebhookId
from persona_mcp.pii import FIXED_PATTERN, PII
from persona_mcp.tools.bodies import attributes_body, meta_body, pick
from persona_mcp.tools.factories import Method, one_result, path_for, send
from persona_mcp.tools.family import Family
from persona_mcp.tools.input_rules import AtLeastOne
from persona_mcp.tools.inputs import PageInput, ToolInput
from persona_mcp.tools.results import Instant, ObjectView, Response
from persona_mcp.tools.spec import Activity, Effect, ToolContext, ToolSpec

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
    created_at: Instant = None


class WebhookChanged(ObjectView, Response):
    """The webhook after the change."""

    status: str | None = Field(None, description="enabled, disabled or archived.")


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
    response = await send(ctx, Method.POST, path_for(f"/webhooks/{{webhook_id}}/{action}", args))
    return one_result(ctx, WebhookChanged, response)


# -- specs ---------------------------------------------------------------------------------------------------


WEBHOOKS = Family(toolset="webhooks", kind=ObjectKind.WEBHOOK, changed=WebhookChanged)

list_webhooks = WEBHOOKS.list(
    """List webhooks with URL, events, status.
    Use this when you need a webhook id.""",
    input_model=ListWebhooks,
    view=Webhook,
)

get_webhook = WEBHOOKS.get(
    """Read one webhook (without secrets).
    Use this when you know its id.""",
    result=WebhookResult,
)

create_webhook = WEBHOOKS.create(
    """Register an HTTPS endpoint for events.
    Use this when a system must get events.
    Do not use it to copy one: clone_webhook.""",
    input_model=CreateWebhook,
    body=_create_body,
)

update_webhook = WEBHOOKS.update(
    """Change a webhook's name, URL or events.
    Use this when its events or URL change.
    Do not use it to pause: set_webhook_enabled.""",
    input_model=UpdateWebhook,
    body=_update_body,
)

archive_webhook = WEBHOOKS.archive(
    """Archive a webhook for good.
    Use this when its endpoint is retired.
    Do not use it to pause: set_webhook_enabled.""",
    at="POST /archive",
)

set_webhook_enabled = WEBHOOKS.custom(
    "set_webhook_enabled",
    "Enable or disable a webhook",
    """Start or pause event delivery to a webhook.
    Use this when delivery must resume or pause.
    Do not use it to retire it: archive_webhook.""",
    effect=Effect.WRITE,
    ops=("enable", "disable"),
    input_model=WebhookSwitch,
    output_model=WebhookChanged,
    handler=switch_webhook,
    idempotent=True,
)

rotate_webhook_secret = WEBHOOKS.delete(
    "rotate_webhook_secret",
    "Rotate a webhook's signing secret",
    """Issue a new signing secret; the old one expires.
    Use this when a secret may have leaked (read it in the dashboard).""",
    input_model=RotateSecret,
    at="POST /rotate-secret",
    body=_rotate_body,
)

clone_webhook = WEBHOOKS.write(
    "clone_webhook",
    "Clone a webhook",
    "Copy a webhook into a new one.\nUse this when a similar webhook is needed.",
    activity=Activity.CREATE,
    at="POST /clone",
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = WEBHOOKS.declared()
