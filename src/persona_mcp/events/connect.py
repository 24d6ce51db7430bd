"""Connecting a Persona webhook to this server's receiver, and following its secret rotations.

`connect_webhook` either creates a webhook in Persona pointing at a new endpoint of this server
(`<public URL>/webhooks/persona/<endpoint id>`) and enables it, or, given the id of an existing
webhook, reads it; in both cases it stores the webhook's secrets, as Persona lists them (`secrets[]`
with `expires-at`), under the endpoint. Running it again for the same webhook after a rotation stores
the new secret with the old one, which verifies deliveries until its `expires-at`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from persona_mcp.config import Environment
from persona_mcp.events.endpoints import EndpointStore, new_endpoint_id, secrets_from_webhook
from persona_mcp.events.receiver import PATH
from persona_mcp.persona.client import PersonaClient
from persona_mcp.persona.envelope import Resource


@dataclass(frozen=True, slots=True)
class Connection:
    endpoint_id: str
    webhook_id: str
    url: str
    secrets: int
    created: bool


def receiver_url(public_base_url: str, endpoint_id: str) -> str:
    return public_base_url.rstrip("/") + PATH.replace("{endpoint_id}", endpoint_id)


def _resource(data: Any) -> Resource:
    if not isinstance(data, Resource):
        raise ValueError("Persona answered without a webhook object")
    return data


async def connect_webhook(
    persona: PersonaClient,
    endpoints: EndpointStore,
    *,
    environment: Environment,
    actor: str,
    public_base_url: str | None = None,
    webhook_id: str | None = None,
    enabled_events: Sequence[str] = ("*",),
    name: str = "persona-mcp",
) -> Connection:
    """Create (or register) the webhook and store its secrets; see the module docstring."""
    if webhook_id is not None:
        webhook = _resource((await persona.get(f"/webhooks/{webhook_id}")).document.data)
        endpoint_id = await endpoints.find_by_webhook(webhook.id) or new_endpoint_id()
        created = False
        url = str(webhook.attributes.get("url") or "")
    else:
        if not public_base_url:
            raise ValueError("--url (this server's public base URL) is needed to create a webhook")
        endpoint_id = new_endpoint_id()
        url = receiver_url(public_base_url, endpoint_id)
        body = {"data": {"attributes": {"name": name, "url": url, "enabled-events": list(enabled_events)}}}
        webhook = _resource((await persona.post("/webhooks", json=body)).document.data)
        created = True
    secrets = secrets_from_webhook(dict(webhook.attributes))
    if not secrets:
        raise ValueError(f"webhook {webhook.id} lists no secret (does the API key have webhook.read?)")
    await endpoints.save(
        environment=environment,
        secrets=secrets,
        actor=actor,
        endpoint_id=endpoint_id,
        webhook_id=webhook.id,
    )
    if created or webhook.attributes.get("status") == "disabled":
        await persona.post(f"/webhooks/{webhook.id}/enable")
    return Connection(
        endpoint_id=endpoint_id, webhook_id=webhook.id, url=url, secrets=len(secrets), created=created
    )
