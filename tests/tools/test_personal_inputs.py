"""Arguments that carry personal data (or secrets) are marked PII, so the audit log stores digests."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from persona_mcp.pii import pii_field_names
from persona_mcp.tools import catalogue
from persona_mcp.tools.audit_log import QueryAuditLog
from persona_mcp.tools.inputs import ToolInput
from persona_mcp.tools.recovery import validation_message
from persona_mcp.tools.webhooks import CreateWebhook, UpdateWebhook


def test_audit_lookup_by_person_marks_its_personal_arguments() -> None:
    assert {"email", "phone", "value"} <= set(pii_field_names(QueryAuditLog))


@pytest.mark.parametrize("model", [CreateWebhook, UpdateWebhook])
def test_webhook_url_is_personal_so_tokens_in_it_are_digested(model: type[ToolInput]) -> None:
    assert "url" in pii_field_names(model)


@pytest.mark.parametrize("tool", ["create_webhook", "update_webhook"])
def test_webhook_url_with_credentials_is_refused_naming_the_field(tool: str) -> None:
    spec = catalogue.get(tool)
    base = {"name": "n", "enabled_events": ["*"]} if tool == "create_webhook" else {"webhook_id": "wbh_A1"}
    with pytest.raises(ValidationError) as raised:
        spec.input_model.model_validate({**base, "url": "https://hook:s3cretpw@hooks.example.com/in"})
    message = validation_message(spec, raised.value)
    assert "url must match the pattern" in message and "s3cretpw" not in message


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com", "https://hooks.example.com/in?token=a@b", "https://h.example.com#x@y"],
)
def test_webhook_url_may_carry_at_signs_after_the_host(url: str) -> None:
    assert CreateWebhook(name="n", url=url, enabled_events=["*"]).url == url
