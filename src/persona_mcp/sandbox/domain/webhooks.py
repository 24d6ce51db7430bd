"""Webhooks: create, update, enable/disable, archive, clone, secret rotation (PROTOCOL.md section 12).

Statuses: new webhooks start `disabled` (as Persona's examples show), `enable`/`disable` toggle, `archive`
is final. Enabling an enabled webhook (or disabling a disabled one) is a harmless no-op, so retries
are safe; changing an archived webhook is a 409. Persona defines no webhook events, so none are recorded.
Deliveries to enabled webhooks are made by `delivery.WebhookDeliverer` when the sandbox is built with
`deliver_webhooks`.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlparse

from persona_mcp.sandbox.clock import later_iso, now_iso
from persona_mcp.sandbox.errors import ApiError, conflict, invalid_attribute
from persona_mcp.sandbox.inflection import INFLECTIONS
from persona_mcp.sandbox.records import Record
from persona_mcp.sandbox.store import SandboxState

DEFAULT_API_VERSION = "2025-12-08"
DEFAULT_FILE_TOKEN_SECONDS = 6 * 3600
DEFAULT_ROTATION_GRACE_SECONDS = 24 * 3600
_SETTINGS = (
    "name",
    "description",
    "url",
    "enabled-events",
    "api-version",
    "api-key-inflection",
    "api-attributes-blocklist",
    "file-access-token-expires-in",
    "payload-filter",
    "included-allowlist",
    "relationship-allowlist",
    "custom-http-headers",
)


def _check(attributes: dict[str, Any], *, creating: bool) -> None:
    if creating:
        for name in ("url", "name", "enabled-events"):
            if attributes.get(name) in (None, "", []):
                raise invalid_attribute(name, f"data.attributes.{name} is missing")
    url = attributes.get("url")
    if url is not None:
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise invalid_attribute("url", "data.attributes.url must be an http(s) URL")
    events = attributes.get("enabled-events")
    if events is not None and (
        not isinstance(events, list) or not all(isinstance(e, str) and e for e in events)
    ):
        raise invalid_attribute(
            "enabled-events", "data.attributes.enabled-events must be an array of event names"
        )
    inflection = attributes.get("api-key-inflection")
    if inflection is not None and inflection not in INFLECTIONS:
        raise invalid_attribute(
            "api-key-inflection", "data.attributes.api-key-inflection must be kebab, camel or snake"
        )
    seconds = attributes.get("file-access-token-expires-in")
    if seconds is not None and (not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0):
        raise invalid_attribute("file-access-token-expires-in", "must be a positive integer of seconds")


def _secret(state: SandboxState) -> str:
    return "wbhsec_" + state.ids.token(36)


def create_webhook(state: SandboxState, attributes: dict[str, Any]) -> Record:
    _check(attributes, creating=True)
    secret = _secret(state)
    rendered: dict[str, Any] = {
        "status": "disabled",
        "url": attributes["url"],
        "name": attributes["name"],
        "description": attributes.get("description"),
        "secret": secret,
        "secrets": [{"value": secret, "expires-at": None}],
        "api-version": attributes.get("api-version", DEFAULT_API_VERSION),
        "api-key-inflection": attributes.get("api-key-inflection", "kebab"),
        "api-attributes-blocklist": list(attributes.get("api-attributes-blocklist") or []),
        "file-access-token-expires-in": attributes.get(
            "file-access-token-expires-in", DEFAULT_FILE_TOKEN_SECONDS
        ),
        "enabled-events": list(attributes["enabled-events"]),
        "payload-filter": attributes.get("payload-filter"),
        "created-at": now_iso(),
    }
    for optional in ("included-allowlist", "relationship-allowlist"):
        if attributes.get(optional) is not None:
            rendered[optional] = attributes[optional]
    return state.add(
        "wbh", "webhook", rendered, None, **{"custom-http-headers": attributes.get("custom-http-headers")}
    )


def _live(webhook: Record) -> None:
    if webhook.attributes["status"] == "archived":
        raise conflict(f"Webhook {webhook.id} is archived")


def update_webhook(webhook: Record, attributes: dict[str, Any]) -> Record:
    _live(webhook)
    _check(attributes, creating=False)
    for name in _SETTINGS:
        if name not in attributes:
            continue
        if name == "custom-http-headers":
            webhook.internal[name] = attributes[name]
        elif name in ("name", "url", "enabled-events") and attributes[name] in (None, "", []):
            raise invalid_attribute(name, f"data.attributes.{name} cannot be empty")
        else:
            webhook.attributes[name] = attributes[name]
    return webhook


def set_enabled(webhook: Record, enabled: bool) -> Record:
    _live(webhook)
    webhook.attributes["status"] = "enabled" if enabled else "disabled"
    return webhook


def archive(webhook: Record) -> Record:
    webhook.attributes["status"] = "archived"
    return webhook


def clone(state: SandboxState, webhook: Record) -> Record:
    """A new disabled webhook with the same settings and its own secret."""
    settings = {
        name: copy.deepcopy(webhook.attributes.get(name)) for name in _SETTINGS if name in webhook.attributes
    }
    settings["name"] = f"{webhook.attributes['name'] or 'Webhook'} (copy)"
    settings["custom-http-headers"] = webhook.internal.get("custom-http-headers")
    return create_webhook(state, settings)


def rotate_secret(state: SandboxState, webhook: Record, expires_in: Any) -> Record:
    """A new signing secret; the previous ones stay valid for `expires_in` seconds (default one day)."""
    _live(webhook)
    if expires_in is None:
        expires_in = DEFAULT_ROTATION_GRACE_SECONDS
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in < 0:
        raise ApiError(
            422,
            "Invalid attribute",
            "meta.expires-in-seconds must be a non-negative integer",
            pointer="/meta/expires-in-seconds",
        )
    deadline = later_iso(expires_in)
    previous = [
        {**entry, "expires-at": entry.get("expires-at") or deadline}
        for entry in webhook.attributes["secrets"]
    ]
    secret = _secret(state)
    webhook.attributes["secret"] = secret
    webhook.attributes["secrets"] = [{"value": secret, "expires-at": None}, *previous]
    return webhook
