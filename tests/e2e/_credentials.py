"""The credential store of a running server, opened the way the server opens it (same box, same sink)."""

from __future__ import annotations

from persona_mcp.auth.credentials import CredentialStore, load_secret_box
from persona_mcp.server.app import PersonaMcp


def credential_store(app: PersonaMcp) -> CredentialStore:
    """Credentials added here are the ones the server's resolver finds on its next call."""
    box = load_secret_box(app.settings.secret_key, app.settings.data_dir)
    return CredentialStore(app.store, box, events=app.audit)
