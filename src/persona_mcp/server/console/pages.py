"""Rendering and the rules every console response follows: templates escape everything, a strict CSP,
no caching, and a CSRF token checked on every form post.

Caller-chosen text (principals, tool names, client names, labels) reaches pages only through Jinja2's
autoescaping; no template marks anything `safe`. There is no script at all, so the policy forbids every
script, inline or not.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" makes browsers send `Origin: null` on posts
    "Cache-Control": "no-store",
}

_templates = Environment(
    loader=PackageLoader("persona_mcp.server.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    html = _templates.get_template(template).render(request=request, **context)
    return secured(HTMLResponse(html, status_code=status_code))


__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "render", "secured"]
