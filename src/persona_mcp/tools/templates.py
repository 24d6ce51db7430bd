"""Inquiry templates: the flows `create_inquiry` starts from, their versions and translated texts.

Covers the 5 `inquiry_templates.*` operations. Reading a template gives the id `create_inquiry` needs
and the fields it collects; importing translations changes the texts people see, so it is a write under
`templates:write`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import InquiryTemplateId, ObjectKind
from persona_mcp.pii import FIXED_PATTERN
from persona_mcp.tools.bodies import attributes_body
from persona_mcp.tools.describe import describe
from persona_mcp.tools.factories import Method, action_tool, get_tool, list_tool, read_tool, send
from persona_mcp.tools.inputs import PageInput, ToolInput
from persona_mcp.tools.results import Attr, ObjectView, Page, Rel, Response, ResultModel, from_upstream, kebab
from persona_mcp.tools.spec import Effect, ToolContext

TOOLSET = "templates"


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


class InquiryTemplatePage(Page):
    items: list[InquiryTemplate] = Field(description="Templates.")


class TemplateVersion(ObjectView):
    """An inquiry template version."""

    name_display: str | None = Field(None, description="Display name.")
    status: str | None = Field(None, description="draft or published.")
    template_id: Annotated[str | None, Rel("inquiry-template")] = Field(None, description="itmpl_...")
    enabled_locales: list[str] = Field(default_factory=list, description="Locales.")
    published_at: str | None = Field(None, description="ISO 8601.")
    updated_at: str | None = Field(None, description="ISO 8601.")


class TemplateVersionResult(TemplateVersion, Response):
    """The version the translations went into."""


class TemplateVersionPage(Page):
    items: list[TemplateVersion] = Field(description="Versions, newest first.")


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
    response = await send(ctx, Method.GET, f"/inquiry-templates/{args.inquiry_template_id}/translations")
    resource = response.document.one()
    ctx.touch(args.inquiry_template_id, resource.id)
    values = {
        "id": resource.id,
        "type": resource.type,
        "translations": _snake_keys(resource.attributes.get("translations") or []),
        "request_id": response.request_id,
    }
    return from_upstream(TranslationsResult, values, status=response.status, request_id=response.request_id)


_IDS = "list_inquiry_templates."

list_inquiry_templates = list_tool(
    name="list_inquiry_templates",
    toolset=TOOLSET,
    title="List inquiry templates",
    description=describe("List inquiry templates.", use_when="create_inquiry needs a template id."),
    scope=Scope.TEMPLATES_READ,
    operation="inquiry_templates.list",
    input_model=PageInput,
    page=InquiryTemplatePage,
    view=InquiryTemplate,
    path="/inquiry-templates",
    finds=ObjectKind.INQUIRY_TEMPLATE,
)

get_inquiry_template = get_tool(
    name="get_inquiry_template",
    toolset=TOOLSET,
    title="Get an inquiry template",
    description=describe(
        "Read one inquiry template with the fields it collects.",
        use_when="preparing create_inquiry.",
        ids=_IDS,
    ),
    scope=Scope.TEMPLATES_READ,
    operation="inquiry_templates.retrieve",
    input_model=TemplateRef,
    result=InquiryTemplateResult,
    path="/inquiry-templates/{inquiry_template_id}",
)

list_inquiry_template_versions = list_tool(
    name="list_inquiry_template_versions",
    toolset=TOOLSET,
    title="List inquiry template versions",
    description=describe(
        "List template versions, newest first.", use_when="checking what a template published.", ids=_IDS
    ),
    scope=Scope.TEMPLATES_READ,
    operation="inquiry_templates.list_versions",
    input_model=ListVersions,
    page=TemplateVersionPage,
    view=TemplateVersion,
    path="/inquiry-template-versions",
    finds=ObjectKind.INQUIRY_TEMPLATE_VERSION,
    filters=lambda args: (
        {"filter[inquiry-template-id]": args.inquiry_template_id} if args.inquiry_template_id else {}
    ),
)

get_inquiry_template_translations = read_tool(
    name="get_inquiry_template_translations",
    toolset=TOOLSET,
    title="Get inquiry template translations",
    description=describe(
        "Read the translated texts of a template's latest version.", use_when="reviewing its texts.", ids=_IDS
    ),
    scope=Scope.TEMPLATES_READ,
    operation="inquiry_templates.retrieve_translations",
    input_model=TemplateRef,
    output_model=TranslationsResult,
    handler=_get_translations,
)

import_inquiry_template_translations = action_tool(
    name="import_inquiry_template_translations",
    toolset=TOOLSET,
    title="Import inquiry template translations",
    description=describe(
        "Set translated texts of a template (merged by step, component, attribute).",
        use_when="texts must change in some locales.",
        ids=_IDS,
    ),
    scope=Scope.TEMPLATES_WRITE,
    effect=Effect.WRITE,
    operation="inquiry_templates.import_translations",
    input_model=ImportTranslations,
    result=TemplateVersionResult,
    method=Method.POST,
    path="/inquiry-templates/{inquiry_template_id}/translations",
    body=_translations_body,
    idempotent=True,
)

TOOLS = (
    list_inquiry_templates,
    get_inquiry_template,
    list_inquiry_template_versions,
    get_inquiry_template_translations,
    import_inquiry_template_translations,
)
