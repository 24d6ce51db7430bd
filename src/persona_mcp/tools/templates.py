"""Inquiry templates: the flows `create_inquiry` starts from, their versions and translated texts.

Covers the 5 `inquiry_templates.*` operations. Reading a template gives the id `create_inquiry` needs
and the fields it collects; importing translations changes the texts people see, so it is a write under
`templates:write`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from pydantic import Field

from persona_mcp.persona.ids import InquiryTemplateId, ObjectKind
from persona_mcp.pii import FIXED_PATTERN
from persona_mcp.tools.bodies import attributes_body
from persona_mcp.tools.factories import Method, path_for, send
from persona_mcp.tools.family import Family
from persona_mcp.tools.inputs import PageInput, ToolInput
from persona_mcp.tools.results import (
    Attr,
    Instant,
    ObjectView,
    Rel,
    Response,
    ResultModel,
    from_upstream,
    kebab,
)
from persona_mcp.tools.spec import ToolContext, ToolSpec


def _field_schemas(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [
        {"key": s.get("key"), "type": s.get("type"), "label": s.get("label")}
        for s in value
        if isinstance(s, dict)
    ]


class FieldSchema(ResultModel):
    """A field the template collects."""

    key: str | None = Field(None, description="Field key (create_inquiry fields).")
    type: str | None = Field(None, description="string, date, ...")
    label: str | None = Field(None, description="Label shown.")


class InquiryTemplate(ObjectView):
    """An inquiry template."""

    name: str | None = Field(None, description="Template name.")
    status: str | None = Field(None, description="active or inactive.")
    published_version_id: Annotated[str | None, Rel("latest-published-version")] = Field(
        None, description="itmplv_..."
    )


class InquiryTemplateResult(InquiryTemplate, Response):
    """One template with the fields it collects."""

    field_schemas: Annotated[list[FieldSchema], Attr("field-schemas", _field_schemas)] = Field(
        default_factory=list, description="Its fields."
    )


class TemplateVersion(ObjectView):
    """An inquiry template version."""

    name_display: str | None = Field(None, description="Display name.")
    status: str | None = Field(None, description="draft or published.")
    template_id: Annotated[str | None, Rel("inquiry-template")] = Field(None, description="itmpl_...")
    enabled_locales: list[str] = Field(default_factory=list, description="Locales.")
    published_at: Instant = None
    updated_at: Instant = None


class TemplateVersionResult(TemplateVersion, Response):
    """The version the translations went into."""


class LocaleValue(ToolInput):
    locale: Annotated[str, FIXED_PATTERN] = Field(
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$", description="Locale, e.g. fr or es-MX."
    )
    value: str | None = Field(max_length=5000, description="Text (null clears it).")


class Translation(ToolInput):
    step: Annotated[str, FIXED_PATTERN] = Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$", description="Step name.")
    component: Annotated[str, FIXED_PATTERN] = Field(
        pattern=r"^[A-Za-z0-9_.-]{1,128}$", description="Component name."
    )
    attribute_name: Annotated[str, FIXED_PATTERN] = Field(
        pattern=r"^[A-Za-z0-9_.-]{1,128}$", description="Attribute, e.g. text."
    )
    step_display_name: str | None = Field(None, max_length=255, description="Step display name.")
    locale_values: list[LocaleValue] = Field(min_length=1, max_length=100, description="Texts by locale.")


class LocaleText(ResultModel):
    locale: str = Field(description="Locale.")
    value: str | None = Field(None, description="Text.")


class TranslatedText(ResultModel):
    """One translated text."""

    step: str | None = Field(None, description="Step name.")
    step_display_name: str | None = Field(None, description="Step display name.")
    component: str | None = Field(None, description="Component name.")
    attribute_name: str | None = Field(None, description="Attribute.")
    locale_values: list[LocaleText] = Field(default_factory=list, description="Texts by locale.")


class TranslationsResult(ResultModel):
    """Translated texts of a template's latest version."""

    id: str = Field(description="The version, itmplv_...")
    type: str = Field(description="Persona type.")
    translations: list[TranslatedText] = Field(default_factory=list, description="Texts.")
    request_id: str | None = Field(None, description="Persona request id.")


class TemplateRef(ToolInput):
    inquiry_template_id: InquiryTemplateId = Field(description="The template.")


class ListVersions(PageInput):
    query_filters = {"inquiry_template_id": "filter[inquiry-template-id]"}

    inquiry_template_id: InquiryTemplateId | None = Field(None, description="Only this template's versions.")


class ImportTranslations(ToolInput):
    inquiry_template_id: InquiryTemplateId = Field(description="The template.")
    translations: list[Translation] = Field(min_length=1, max_length=500, description="Texts to set.")


def _kebab_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {kebab(str(k)): _kebab_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_kebab_keys(v) for v in value]
    return value


def _snake_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).replace("-", "_"): _snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


def _translations_body(args: ImportTranslations) -> dict[str, Any]:
    translations = [t.model_dump(mode="json", exclude_none=True) for t in args.translations]
    return attributes_body({"translations": _kebab_keys(translations)})


async def _get_translations(ctx: ToolContext, args: TemplateRef) -> TranslationsResult:
    response = await send(ctx, Method.GET, path_for(TEMPLATES.path + "/translations", args))
    resource = response.document.one()
    ctx.touch(args.inquiry_template_id, resource.id)
    values = {
        "id": resource.id,
        "type": resource.type,
        "translations": _snake_keys(resource.attributes.get("translations") or []),
        "request_id": response.request_id,
    }
    return from_upstream(TranslationsResult, values, status=response.status, request_id=response.request_id)


TEMPLATES = Family(toolset="templates", kind=ObjectKind.INQUIRY_TEMPLATE, operations="inquiry_templates")
VERSIONS = replace(TEMPLATES, kind=ObjectKind.INQUIRY_TEMPLATE_VERSION, path="")

list_inquiry_templates = TEMPLATES.list(
    """List inquiry templates.
    Use this when create_inquiry needs a template id.""",
    input_model=PageInput,
    view=InquiryTemplate,
)

get_inquiry_template = TEMPLATES.get(
    """Read one inquiry template with the fields it collects.
    Use this when preparing create_inquiry.""",
    result=InquiryTemplateResult,
    input_model=TemplateRef,
)

list_inquiry_template_versions = VERSIONS.list(
    """List template versions, newest first.
    Use this when checking what a template published.
    IDs: list_inquiry_templates.""",
    op="list_versions",
    input_model=ListVersions,
    view=TemplateVersion,
)

get_inquiry_template_translations = TEMPLATES.read(
    "get_inquiry_template_translations",
    "Get inquiry template translations",
    """Read the translated texts of a template's latest version.
    Use this when reviewing its texts.""",
    op="retrieve_translations",
    input_model=TemplateRef,
    output_model=TranslationsResult,
    handler=_get_translations,
)

import_inquiry_template_translations = TEMPLATES.write(
    "import_inquiry_template_translations",
    "Import inquiry template translations",
    """Set translated texts of a template (merged by step, component, attribute).
    Use this when texts must change in some locales.""",
    op="import_translations",
    input_model=ImportTranslations,
    result=TemplateVersionResult,
    at="POST /translations",
    body=_translations_body,
    idempotent=True,
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = TEMPLATES.declared()
