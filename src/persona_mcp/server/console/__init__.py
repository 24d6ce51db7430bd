"""The web console for security reviewers and admins (see `app.py`), assembled from the running server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette

from persona_mcp.server.console.app import ConsoleDeps, build_console
from persona_mcp.server.console.oauth import ConsoleOAuth

if TYPE_CHECKING:
    from persona_mcp.server.app import PersonaMcp

#: What the console's cookie key is derived for (see `PiiDigester.derived_key`).
SESSION_KEY_PURPOSE = "console sessions v1"


def console_for(app: PersonaMcp, *, oauth: ConsoleOAuth | None = None) -> Starlette:
    """The console over this server's own stores, tools and audit log; `oauth`, the sign-in through the
    built-in authorization server when it is on."""
    from persona_mcp.tools.saved_files import READ_RESOURCE
    from persona_mcp.tools.spec import Activity

    activities = {spec.name: spec.api_activity.value for spec in app.pipeline.exposed}
    activities[READ_RESOURCE] = Activity.READ.value
    deps = ConsoleDeps(
        store=app.store,
        audit=app.audit,
        grants=app.grants,
        exposed=app.pipeline.exposed,
        data_dir=app.settings.data_dir,
        checkpoint_location=app.settings.audit_checkpoint_location,
        list_credentials=app.pipeline.credential_store.list,
        activities=activities,
        review=app.review,
        oauth=oauth,
    )
    return build_console(deps, app.audit.digester.derived_key(SESSION_KEY_PURPOSE))


__all__ = ["ConsoleDeps", "ConsoleOAuth", "build_console", "console_for"]
