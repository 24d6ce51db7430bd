"""Every action of Composio's Persona toolkit is reachable through one of this server's tools.

Source of the list: Composio's public toolkit catalogue, `docs/public/data/toolkits.json` in the
ComposioHQ/composio repository (commit 06cdcd4633f2101ae96c2d60548b63138e291dca), entry `persona`
(`"toolCount": 69`, version 20260615_00). The 69 action slugs are copied below verbatim, in its order.
"""

from __future__ import annotations

from persona_mcp.tools import catalogue

COMPOSIO_PERSONA_ACTIONS: tuple[str, ...] = (
    "PERSONA_ADD_TAG_TO_ACCOUNT",
    "PERSONA_ARCHIVE_A_BROWSER_FINGERPRINT_LIST_ITEM",
    "PERSONA_ARCHIVE_A_COUNTRY_LIST_ITEM",
    "PERSONA_ARCHIVE_A_GEOLOCATION_LIST_ITEM",
    "PERSONA_ARCHIVE_A_GOVERNMENT_ID_NUMBER_LIST_ITEM",
    "PERSONA_ARCHIVE_A_NAME_LIST_ITEM",
    "PERSONA_ARCHIVE_A_WEBHOOK",
    "PERSONA_ARCHIVE_EMAIL_ADDRESS_LIST_ITEM",
    "PERSONA_ARCHIVE_IP_ADDRESS_LIST_ITEM",
    "PERSONA_ARCHIVE_PHONE_NUMBER_LIST_ITEM",
    "PERSONA_ARCHIVE_STRING_LIST_ITEM",
    "PERSONA_CLONE_WEBHOOK",
    "PERSONA_CONSOLIDATE_INTO_ACCOUNT",
    "PERSONA_CREATE_AN_ACCOUNT",
    "PERSONA_CREATE_AN_IP_ADDRESS_LIST_ITEM",
    "PERSONA_CREATE_COUNTRY_LIST_ITEM",
    "PERSONA_CREATE_DOCUMENT_GENERIC",
    "PERSONA_CREATE_EMAIL_ADDRESS_LIST_ITEM",
    "PERSONA_CREATE_GOVERNMENT_ID_NUMBER_LIST_ITEM",
    "PERSONA_CREATE_NAME_LIST_ITEM",
    "PERSONA_CREATE_PHONE_NUMBER_LIST_ITEM",
    "PERSONA_CREATE_STRING_LIST_ITEM",
    "PERSONA_CREATE_WEBHOOK",
    "PERSONA_DISABLE_WEBHOOK",
    "PERSONA_ENABLE_WEBHOOK",
    "PERSONA_EXPIRE_INQUIRY_SESSIONS",
    "PERSONA_IMPORT_EMAIL_ADDRESS_LISTS",
    "PERSONA_IMPORT_IP_ADDRESS_LISTS",
    "PERSONA_IMPORT_NAME_LISTS",
    "PERSONA_IMPORT_PHONE_NUMBER_LISTS",
    "PERSONA_LIST_ALL_ACCOUNTS",
    "PERSONA_LIST_ALL_API_LOGS",
    "PERSONA_LIST_ALL_CASES",
    "PERSONA_LIST_ALL_DEVICES",
    "PERSONA_LIST_ALL_EVENTS",
    "PERSONA_LIST_ALL_IMPORTERS",
    "PERSONA_LIST_ALL_INQUIRIES",
    "PERSONA_LIST_ALL_INQUIRY_SESSIONS",
    "PERSONA_LIST_ALL_LISTS",
    "PERSONA_LIST_ALL_RATE_LIMITS",
    "PERSONA_LIST_ALL_REPORTS",
    "PERSONA_LIST_ALL_TRANSACTIONS",
    "PERSONA_LIST_ALL_WEBHOOKS",
    "PERSONA_LIST_ALL_WORKFLOW_RUNS",
    "PERSONA_REDACT_AN_ACCOUNT",
    "PERSONA_REMOVE_ACCOUNT_TAG",
    "PERSONA_RETRIEVE_A_COUNTRY_LIST_ITEM",
    "PERSONA_RETRIEVE_A_GEOLOCATION_LIST_ITEM",
    "PERSONA_RETRIEVE_AN_ACCOUNT",
    "PERSONA_RETRIEVE_A_NAME_LIST_ITEM",
    "PERSONA_RETRIEVE_AN_EVENT",
    "PERSONA_RETRIEVE_AN_IMPORTER",
    "PERSONA_RETRIEVE_AN_IP_ADDRESS_LIST_ITEM",
    "PERSONA_RETRIEVE_API_LOG",
    "PERSONA_RETRIEVE_A_STRING_LIST_ITEM",
    "PERSONA_RETRIEVE_A_WEBHOOK",
    "PERSONA_RETRIEVE_BROWSER_FINGERPRINT_LIST_ITEM",
    "PERSONA_RETRIEVE_DOCUMENT",
    "PERSONA_RETRIEVE_DOCUMENT_GENERIC",
    "PERSONA_RETRIEVE_EMAIL_ADDRESS_LIST_ITEM",
    "PERSONA_RETRIEVE_GOVERNMENT_ID_NUMBER_LIST_ITEM",
    "PERSONA_RETRIEVE_PHONE_NUMBER_LIST_ITEM",
    "PERSONA_ROTATE_WEBHOOK_SECRET",
    "PERSONA_SEARCH_ACCOUNTS",
    "PERSONA_SEARCH_CASES",
    "PERSONA_SET_TAGS",
    "PERSONA_UPDATE_AN_ACCOUNT",
    "PERSONA_UPDATE_A_WEBHOOK",
    "PERSONA_UPDATE_DOCUMENT_GENERIC",
)

_LIST_ITEM_KINDS = (
    "BROWSER_FINGERPRINT",
    "COUNTRY",
    "GEOLOCATION",
    "GOVERNMENT_ID_NUMBER",
    "NAME",
    "EMAIL_ADDRESS",
    "IP_ADDRESS",
    "PHONE_NUMBER",
    "STRING",
)


def _tool_for(action: str) -> str:
    """The tool that does what a Composio action does (written out: a reviewer reads it as a table)."""
    slug = action.removeprefix("PERSONA_")
    is_item = slug.startswith(("ARCHIVE_", "CREATE_", "RETRIEVE_")) and slug.endswith("_LIST_ITEM")
    if is_item and any(kind in slug for kind in _LIST_ITEM_KINDS):
        verb = slug.split("_", 1)[0]
        return {
            "ARCHIVE": "archive_list_item",
            "CREATE": "create_list_item",
            "RETRIEVE": "get_list_item",
        }[verb]
    if slug.startswith("IMPORT_") and slug.endswith("_LISTS"):
        return "import_list_items"
    return ACTION_TOOLS[slug]


ACTION_TOOLS: dict[str, str] = {
    "ADD_TAG_TO_ACCOUNT": "add_account_tag",
    "ARCHIVE_A_WEBHOOK": "archive_webhook",
    "CLONE_WEBHOOK": "clone_webhook",
    "CONSOLIDATE_INTO_ACCOUNT": "consolidate_accounts",
    "CREATE_AN_ACCOUNT": "create_account",
    "CREATE_DOCUMENT_GENERIC": "create_generic_document",
    "CREATE_WEBHOOK": "create_webhook",
    "DISABLE_WEBHOOK": "set_webhook_enabled",
    "ENABLE_WEBHOOK": "set_webhook_enabled",
    "EXPIRE_INQUIRY_SESSIONS": "expire_all_inquiry_sessions",
    "LIST_ALL_ACCOUNTS": "list_accounts",
    "LIST_ALL_API_LOGS": "list_api_logs",
    "LIST_ALL_CASES": "list_cases",
    "LIST_ALL_DEVICES": "list_devices",
    "LIST_ALL_EVENTS": "list_events",
    "LIST_ALL_IMPORTERS": "list_importers",
    "LIST_ALL_INQUIRIES": "list_inquiries",
    "LIST_ALL_INQUIRY_SESSIONS": "list_inquiry_sessions",
    "LIST_ALL_LISTS": "list_lists",
    "LIST_ALL_RATE_LIMITS": "list_rate_limits",
    "LIST_ALL_REPORTS": "list_reports",
    "LIST_ALL_TRANSACTIONS": "list_transactions",
    "LIST_ALL_WEBHOOKS": "list_webhooks",
    "LIST_ALL_WORKFLOW_RUNS": "list_workflow_runs",
    "REDACT_AN_ACCOUNT": "redact_account",
    "REMOVE_ACCOUNT_TAG": "remove_account_tag",
    "RETRIEVE_AN_ACCOUNT": "get_account",
    "RETRIEVE_AN_EVENT": "get_event",
    "RETRIEVE_AN_IMPORTER": "get_importer",
    "RETRIEVE_API_LOG": "get_api_log",
    "RETRIEVE_A_WEBHOOK": "get_webhook",
    "RETRIEVE_DOCUMENT": "get_document",
    "RETRIEVE_DOCUMENT_GENERIC": "get_document",
    "ROTATE_WEBHOOK_SECRET": "rotate_webhook_secret",
    "SEARCH_ACCOUNTS": "search_accounts",
    "SEARCH_CASES": "search_cases",
    "SET_TAGS": "set_account_tags",
    "UPDATE_AN_ACCOUNT": "update_account",
    "UPDATE_A_WEBHOOK": "update_webhook",
    "UPDATE_DOCUMENT_GENERIC": "update_generic_document",
}


def test_the_list_holds_composios_69_persona_actions_once_each() -> None:
    assert len(COMPOSIO_PERSONA_ACTIONS) == 69
    assert len(set(COMPOSIO_PERSONA_ACTIONS)) == 69


def test_every_composio_action_maps_to_a_tool_of_this_server() -> None:
    names = {spec.name for spec in catalogue}
    mapped = {action: _tool_for(action) for action in COMPOSIO_PERSONA_ACTIONS}
    missing = {action: tool for action, tool in mapped.items() if tool not in names}
    assert not missing, missing
    print(f"69 Composio actions -> {len(set(mapped.values()))} tools")


def test_the_mapping_names_no_action_outside_the_list() -> None:
    assert set(ACTION_TOOLS) <= {action.removeprefix("PERSONA_") for action in COMPOSIO_PERSONA_ACTIONS}
