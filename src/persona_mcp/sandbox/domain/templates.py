"""Inquiry templates: the flows inquiries are created from, their versions and translated texts.

Templates are built in the dashboard; the seed provides the demo template every seeded inquiry uses,
with a published and a draft version. Importing translations merges them into the template's latest
version, keyed by step, component and attribute, and answers that version.
"""

from __future__ import annotations

from typing import Any

from persona_mcp.sandbox.clock import now_iso
from persona_mcp.sandbox.domain.shapes import add_shaped, example_resource
from persona_mcp.sandbox.errors import invalid_attribute
from persona_mcp.sandbox.records import Record, ref
from persona_mcp.sandbox.store import SandboxState

_KEY = ("step", "component", "attribute-name")


def add_template(state: SandboxState, template_id: str, version_ids: tuple[str, str], name: str) -> Record:
    """A template with a published version and a newer draft (ids pinned: tests and docs name them)."""
    published, draft = version_ids
    template = add_shaped(
        state,
        "inquiry_templates.retrieve",
        "itmpl",
        attributes={"name": name, "status": "active"},
        relationships={"latest-published-version": ref("inquiry-template-version", published)},
        object_id=template_id,
    )
    for version_id, status in ((published, "published"), (draft, "draft")):
        add_shaped(
            state,
            "inquiry_templates.list_versions",
            "itmplv",
            attributes={"status": status, "name-display": name, "live": status == "published"},
            relationships={"inquiry-template": ref("inquiry-template", template.id)},
            object_id=version_id,
            internal={"template": template.id},
        )
    template.internal.update(
        {
            "versions": [published, draft],
            "translations": example_resource("inquiry_templates.retrieve_translations")["attributes"][
                "translations"
            ],
        }
    )
    return template


def latest_version(state: SandboxState, template: Record) -> Record:
    return state.records[template.internal["versions"][-1]]


def translations(state: SandboxState, template: Record) -> dict[str, Any]:
    """The `inquiry-template-translations` resource of the template's latest version."""
    return {
        "type": "inquiry-template-translations",
        "id": latest_version(state, template).id,
        "attributes": {"translations": [dict(t) for t in template.internal["translations"]]},
    }


def import_translations(state: SandboxState, template: Record, attributes: dict[str, Any]) -> Record:
    incoming = attributes.get("translations")
    if not isinstance(incoming, list) or not incoming:
        raise invalid_attribute("translations", "data.attributes.translations must be a non-empty array")
    current = {tuple(t[k] for k in _KEY): t for t in template.internal["translations"]}
    for entry in incoming:
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in _KEY):
            raise invalid_attribute("translations", "each translation needs step, component, attribute-name")
        values = entry.get("locale-values")
        if not isinstance(values, list) or not all(isinstance(v, dict) and "locale" in v for v in values):
            raise invalid_attribute("translations", "each translation needs locale-values")
        key = tuple(entry[k] for k in _KEY)
        merged = dict(current.get(key, {}))
        merged.update({k: entry[k] for k in _KEY})
        merged["step-display-name"] = entry.get("step-display-name", merged.get("step-display-name"))
        by_locale = {v["locale"]: v for v in merged.get("locale-values", [])}
        by_locale.update({v["locale"]: {"locale": v["locale"], "value": v.get("value")} for v in values})
        merged["locale-values"] = list(by_locale.values())
        current[key] = merged
    template.internal["translations"] = list(current.values())
    version = latest_version(state, template)
    version.attributes["updated-at"] = now_iso()
    return version
