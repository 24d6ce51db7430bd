"""A family's shared parts are written once and every tool of it gets them the same way."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import ObjectKind
from persona_mcp.testing import approvals_waived, connected
from persona_mcp.tools import catalogue, inquiries, templates
from persona_mcp.tools.describe import DescriptionShapeError
from persona_mcp.tools.family import Family
from persona_mcp.tools.inquiry_sessions import InquirySessionChanged
from persona_mcp.tools.mcp_schema import input_schema
from persona_mcp.tools.spec import Effect
from persona_mcp.tools.transactions import TRANSACTIONS

_DESCRIBED = "Relate it.\nUse this when it is related."
SESSIONS = Family(toolset="inquiry_sessions", kind=ObjectKind.INQUIRY_SESSION, changed=InquirySessionChanged)


def test_path_id_argument_and_id_hint_follow_from_the_kind() -> None:
    assert SESSIONS.path == "/inquiry-sessions/{inquiry_session_id}"
    assert SESSIONS.id_field == "inquiry_session_id" and SESSIONS.collection == "/inquiry-sessions"
    get = SESSIONS.get("Read one session.\nUse this when you need it.", result=InquirySessionChanged)
    assert get.name == "get_inquiry_session" and get.title == "Get an inquiry session"
    assert "\nIDs: list_inquiry_sessions.\n" in get.description + "\n"


def test_the_scope_follows_from_the_effect_and_the_toolsets_scope_family() -> None:
    assert SESSIONS.scope(Effect.READ) is Scope.INQUIRIES_READ
    assert SESSIONS.scope(Effect.WRITE) is Scope.INQUIRIES_WRITE
    assert SESSIONS.scope(Effect.DESTRUCTIVE) is Scope.INQUIRIES_DELETE
    assert SESSIONS.scope(Effect.DESTRUCTIVE, decide=True) is Scope.INQUIRIES_DECIDE


def test_tag_tools_are_one_call_for_any_kind_of_object() -> None:
    add, remove, replace_all = SESSIONS.tag_tools()
    assert [add.name, remove.name, replace_all.name] == [
        "add_inquiry_session_tag",
        "remove_inquiry_session_tag",
        "set_inquiry_session_tags",
    ]
    assert add.operations == ("inquiry_sessions.add_tag",) and add.scope is Scope.INQUIRIES_WRITE
    schema = input_schema(add)
    assert schema["required"] == ["inquiry_session_id"] and {"tag_name", "tag_id"} <= set(
        schema["properties"]
    )
    assert add.output_model is InquirySessionChanged and add.annotations.idempotent


def test_accounts_and_inquiries_tag_tools_come_from_the_same_builder() -> None:
    for noun in ("account", "inquiry"):
        specs = [catalogue.get(f"{verb}_{noun}_tag") for verb in ("add", "remove")]
        specs.append(catalogue.get(f"set_{noun}_tags"))
        assert [spec.operations[0].split(".")[1] for spec in specs] == ["add_tag", "remove_tag", "set_tags"]
        assert all(f"{noun}_id" in spec.input_model.model_fields for spec in specs)


def test_a_description_of_another_shape_is_refused_where_it_is_declared() -> None:
    with pytest.raises(DescriptionShapeError):
        SESSIONS.get("Read one session without saying when to use it.", result=InquirySessionChanged)


def test_relation_tools_are_one_call_and_accounts_and_transactions_share_them() -> None:
    add, remove = SESSIONS.relation_tools("made-by", add=_DESCRIBED, remove=_DESCRIBED)
    assert (add.name, remove.name) == ("add_inquiry_session_relation", "remove_inquiry_session_relation")
    assert add.operations == ("inquiry_sessions.add_relation",) and add.input_model is remove.input_model
    assert list(add.input_model.model_fields) == [
        "inquiry_session_id",
        "relation_schema_key",
        "target_object_id",
    ]
    for noun, key in (("account", "parent-of"), ("transaction", "made-by")):
        spec = catalogue.get(f"add_{noun}_relation")
        assert spec.title == f"Relate {'an' if noun == 'account' else 'a'} {noun} to another object"
        assert (
            input_schema(spec)["properties"]["relation_schema_key"]["description"]
            == f"Relation key, e.g. {key}."
        )
        assert input_schema(spec)["required"] == [f"{noun}_id", "relation_schema_key", "target_object_id"]


def test_titles_use_the_article_the_words_sound_with() -> None:
    assert catalogue.get("get_api_log").title == "Get an API log"
    assert catalogue.get("get_user_audit_log").title == "Get a user audit log"
    assert catalogue.get("get_importer").title == "Get an import"


def test_a_familys_conflict_hint_is_for_changes_of_an_existing_object() -> None:
    hint = TRANSACTIONS.conflict_hint
    assert hint and catalogue.get("update_transaction").conflict_hint == hint
    assert catalogue.get("add_transaction_tag").conflict_hint == hint
    assert catalogue.get("create_transaction").conflict_hint is None


@pytest.mark.anyio
async def test_one_tool_over_two_operations_sends_the_request_its_argument_chooses(tmp_path: Path) -> None:
    """set_verification_lock locks or unlocks as `locked` says: a locked verification cannot be redacted."""
    async with connected(tmp_path, [*Scope], no_approval=approvals_waived()) as h:
        verification = next(r.id for r in h.sandbox.of_type(lambda r: r.type.startswith("verification")))
        ref = {"verification_id": verification}
        locked = await h.client.call_tool("set_verification_lock", {**ref, "locked": True})
        refused = await h.client.call_tool("redact_verification", ref)
        unlocked = await h.client.call_tool("set_verification_lock", {**ref, "locked": False})
        redacted = await h.client.call_tool("redact_verification", ref)
    assert not locked.is_error and not unlocked.is_error
    assert refused.is_error and "unlock it first" in " ".join(getattr(b, "text", "") for b in refused.content)
    assert not redacted.is_error


def test_declared_lists_every_tool_the_builders_made_in_order_with_derived_families() -> None:
    sessions = Family(
        toolset="inquiry_sessions", kind=ObjectKind.INQUIRY_SESSION, changed=InquirySessionChanged
    )
    get = sessions.get("Read one session.\nUse this when you need it.", result=InquirySessionChanged)
    tags = sessions.tag_tools()
    sandbox = replace(sessions, toolset="simulation", operations="inquiry_sessions")
    expire = sandbox.delete("expire_it", "Expire it", _DESCRIBED, at="POST /expire")
    assert sessions.declared() == (get, *tags, expire) and sandbox.declared() == sessions.declared()
    assert Family(toolset="inquiry_sessions", kind=ObjectKind.INQUIRY_SESSION).declared() == ()


def test_each_family_module_lists_what_its_families_declared() -> None:
    assert inquiries.TOOLS[-2:] == (inquiries.simulate_inquiry_actions, inquiries.set_inquiry_simulate_stubs)
    assert inquiries.print_inquiry_pdf in inquiries.TOOLS and inquiries.print_inquiry_pdf.unmaskable
    assert templates.TOOLS.index(templates.list_inquiry_template_versions) == 2


def test_a_switch_posts_the_route_its_boolean_chooses_and_covers_both_operations() -> None:
    lock = catalogue.get("set_verification_lock")
    assert lock.operations == ("verifications.investigation_lock", "verifications.investigation_unlock")
    assert lock.annotations.idempotent and lock.effect is Effect.WRITE
    attach = catalogue.get("attach_case_objects")
    assert attach.operations == ("cases.add_objects", "cases.remove_objects")


def test_expire_stops_an_object_under_the_delete_scope_and_may_be_repeated() -> None:
    for name, operation in (
        ("expire_inquiry", "inquiries.expire"),
        ("expire_inquiry_session", "inquiry_sessions.expire"),
    ):
        spec = catalogue.get(name)
        assert spec.operations == (operation,) and spec.effect is Effect.DESTRUCTIVE
        assert spec.scope is Scope.INQUIRIES_DELETE and spec.annotations.idempotent
