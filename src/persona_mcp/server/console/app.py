"""The console at `/console`: audit review for security teams, grants and credentials for admins.

Server-rendered pages and plain forms, no scripts. A person signs in with their own grant token (a grant
whose principal kind is `person`), or, when the built-in authorization server is on, through it ("Sign in
with persona-mcp", see `oauth.py`); what they see is decided by that grant's scopes (narrowed to the
token's scopes when signed in through the authorization server), exactly as for tools:
`audit:read` for the log (`audit:all_environments` beyond the grant's environment), `console:admin` for
grants and credentials. Every change made here is written by the same stores as the CLI's, so it is
audited the same way, with the person as the actor.
"""

from __future__ import annotations

import ipaddress
import json
import time
import tomllib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from persona_mcp.audit import AuditLog
from persona_mcp.audit.export import ExportFormat, render_lines_async
from persona_mcp.audit.query import (
    AuditFilter,
    count_before,
    count_records,
    covering_checkpoint,
    iter_records,
    last_recorded_at,
    page_records,
    record_at,
)
from persona_mcp.audit.record import AuditRecord
from persona_mcp.auth import grants_file
from persona_mcp.auth.environment import Environment
from persona_mcp.auth.grant import Grant, GrantDraft, PrincipalKind
from persona_mcp.auth.grants import GrantError, GrantStore
from persona_mcp.auth.policy import visible
from persona_mcp.auth.scopes import Scope, UnknownScopeError, parse_scopes
from persona_mcp.server.approval_review import ApprovalReview, Approver, ReviewError
from persona_mcp.server.console.filters import (
    DECISIONS,
    OUTCOMES,
    PAGE_SIZES,
    PRESETS,
    parse_time,
    read_form,
    to_filter,
)
from persona_mcp.server.console.oauth import ConsoleOAuth, Flow, SignedIn, SignInRefused, scopes_named
from persona_mcp.server.console.pages import render, secured
from persona_mcp.server.console.sessions import (
    FLOW_COOKIE,
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    SessionCodec,
    new_presession,
)
from persona_mcp.server.console.verify_runs import VerifyRuns
from persona_mcp.server.console.viewer import Viewer
from persona_mcp.store import Store
from persona_mcp.tools.spec import ToolSpec

#: Failed sign-ins allowed per client address in `_SIGNIN_WINDOW_S` before it must wait.
SIGNIN_FAILURES_ALLOWED = 5
_SIGNIN_WINDOW_S = 300.0
#: Records a call timeline shows per page (oldest first).
TIMELINE_PAGE = 100

CredentialLister = Callable[[], Awaitable[Sequence[Any]]]


@dataclass(slots=True)
class ConsoleDeps:
    """What the console reads and changes: the server's own stores, never copies."""

    store: Store
    audit: AuditLog
    grants: GrantStore
    exposed: Sequence[ToolSpec[Any, Any]]
    data_dir: Path
    checkpoint_location: str | Path | None
    list_credentials: CredentialLister
    activities: dict[str, str] = field(default_factory=dict)
    #: The approvers' side of held calls (issue 13); None: the approvals pages are not offered.
    review: ApprovalReview | None = None
    #: Sign-in through the built-in authorization server; None: the grant token only (no button).
    oauth: ConsoleOAuth | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class _SignInThrottle:
    """Failed sign-ins per client address in a sliding window: guessing tokens is slow and visible."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, who: str) -> bool:
        window = self._failures.get(who)
        now = time.monotonic()
        while window and now - window[0] > _SIGNIN_WINDOW_S:
            window.popleft()
        return window is not None and len(window) >= SIGNIN_FAILURES_ALLOWED

    def failed(self, who: str) -> None:
        self._failures.setdefault(who, deque()).append(time.monotonic())


def _loopback(request: Request) -> bool:
    host = request.url.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def build_console(deps: ConsoleDeps, session_key: bytes) -> Starlette:
    """The console as an ASGI app, to be mounted at `/console`."""
    codec = SessionCodec(session_key)
    throttle = _SignInThrottle()
    verify_runs = VerifyRuns(deps.store, deps.audit, deps.data_dir, deps.checkpoint_location)

    # -- sessions -------------------------------------------------------------------------------------

    async def viewer_of(request: Request) -> Viewer | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        session = codec.open(cookie, deps.clock())
        if session is None or cookie is None:
            return None
        grant = await deps.grants.get(session.grant_id)
        # A rotated token, a revoked or expired grant: the session ends with it.
        if grant is None or grant.token_id != session.token_id or not grant.is_live(deps.clock()):
            return None
        if session.family_id is None:
            return Viewer(grant=grant, cookie=cookie)
        # Signed in through the authorization server: its token family (and the console's client) must
        # still be live, and the token's scopes narrow the grant's.
        if deps.oauth is None or not await deps.oauth.provider.family_live(session.family_id):
            return None
        return Viewer(
            grant=grant,
            cookie=cookie,
            signed_in_as=session.person,
            token_scopes=scopes_named(session.scopes or ()),
            family_id=session.family_id,
        )

    def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/console",
            httponly=True,
            secure=not _loopback(request),
            samesite="strict",
        )

    async def form_of(request: Request, bound_to: str | None) -> dict[str, str] | None:
        """The posted form, or None when its CSRF token is missing or not this session's."""
        form = await request.form()
        values = {key: str(value) for key, value in form.items() if isinstance(value, str)}
        return values if codec.csrf_valid(bound_to, values.get("csrf")) else None

    def refused(request: Request, viewer: Viewer | None, why: str, status_code: int = 403) -> Response:
        return render(
            request, "refused.html", status_code=status_code, viewer=viewer, why=why, csrf=_csrf(viewer)
        )

    def _csrf(viewer: Viewer | None) -> str:
        return codec.csrf_token(viewer.cookie) if viewer is not None else ""

    def page(request: Request, template: str, viewer: Viewer, **context: Any) -> Response:
        return render(
            request,
            template,
            viewer=viewer,
            csrf=_csrf(viewer),
            can_audit=viewer.holds(Scope.AUDIT_READ),
            can_admin=viewer.holds(Scope.ADMIN),
            can_approve=deps.review is not None
            and (viewer.holds(Scope.APPROVALS_DECIDE) or viewer.holds(Scope.ADMIN)),
            **context,
        )

    oauth_offered = deps.oauth is not None and deps.oauth.available

    def to_signin() -> Response:
        return secured(RedirectResponse("/console/signin", status_code=303))

    # -- sign-in --------------------------------------------------------------------------------------

    async def home(request: Request) -> Response:
        viewer = await viewer_of(request)
        if viewer is None:
            return to_signin()
        # The first page the grant opens: a person who only decides approvals lands on them.
        target = "/console/admin/grants"
        if viewer.holds(Scope.AUDIT_READ):
            target = "/console/audit"
        elif deps.review is not None and viewer.holds(Scope.APPROVALS_DECIDE):
            target = "/console/approvals"
        return secured(RedirectResponse(target, status_code=303))

    async def signin_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
        pre = request.cookies.get(PRESESSION_COOKIE) or new_presession()
        response = render(
            request,
            "signin.html",
            status_code=status_code,
            viewer=None,
            csrf=codec.csrf_token(pre),
            error=error,
            oauth=oauth_offered,
        )
        set_cookie(response, request, PRESESSION_COOKIE, pre, 600)
        return response

    async def signin(request: Request) -> Response:
        if request.method == "GET":
            return await signin_page(request)
        form = await form_of(request, request.cookies.get(PRESESSION_COOKIE))
        if form is None:
            return await signin_page(
                request, "The form expired or was not sent from this page: try again.", 403
            )
        who = _client(request)
        if throttle.blocked(who):
            await deps.audit.admin_event(
                action="console.signin_refused", actor=who, target="console", details={"reason": "throttled"}
            )
            return await signin_page(
                request, "Too many failed sign-ins from this address: wait 5 minutes.", 429
            )
        grant, why = await _grant_for_signin(form.get("token", "").strip())
        if grant is None:
            throttle.failed(who)
            await deps.audit.admin_event(
                action="console.signin_refused", actor=who, target="console", details={"reason": why}
            )
            return await signin_page(request, why, 401)
        return await signed_in(request, grant, None)

    async def signed_in(request: Request, grant: Grant, through: SignedIn | None) -> Response:
        """Audit the sign-in, then set the session cookie and go to the console."""
        now = deps.clock()
        expires = min(now + SESSION_LIFETIME, grant.expires_at or now + SESSION_LIFETIME)
        details: dict[str, Any] = {"client_address": _client(request), "method": "grant token"}
        if through is None:
            cookie = codec.seal(grant.id, grant.token_id, expires)
            person = grant.principal
        else:
            person = through.person
            names = tuple(sorted(scope.value for scope in through.scopes))
            cookie = codec.seal(
                grant.id, grant.token_id, expires, person=person, scopes=names, family_id=through.family_id
            )
            details |= {
                "method": "authorization server",
                "client_id": through.client_id,
                "family_id": through.family_id,
                "scopes": list(names),
            }
        await deps.audit.admin_event(
            action="console.signed_in",
            actor=f"{person} (console, grant {grant.id})",
            target=grant.id,
            details=details,
        )
        response = secured(RedirectResponse("/console", status_code=303))
        set_cookie(response, request, SESSION_COOKIE, cookie, int((expires - now).total_seconds()))
        response.delete_cookie(PRESESSION_COOKIE, path="/console")
        response.delete_cookie(FLOW_COOKIE, path="/console")
        return response

    # -- sign-in through the built-in authorization server -------------------------------------------

    async def oauth_start(request: Request) -> Response:
        """The button: remember a fresh state and PKCE verifier in the flow cookie, go to /authorize."""
        if deps.oauth is None or not oauth_offered:
            return refused(
                request, None, "This server has no built-in authorization server.", status_code=404
            )
        if await form_of(request, request.cookies.get(PRESESSION_COOKIE)) is None:
            return await signin_page(
                request, "The form expired or was not sent from this page: try again.", 403
            )
        try:
            url, flow = await deps.oauth.start()
        except SignInRefused as exc:
            return await signin_page(request, str(exc), exc.status_code)
        response = secured(RedirectResponse(url, status_code=303))
        lifetime = deps.oauth.provider.pending.lifetime_seconds
        cookie = codec.seal_flow(flow.state, flow.verifier, deps.clock() + timedelta(seconds=lifetime))
        set_cookie(response, request, FLOW_COOKIE, cookie, lifetime)
        return response

    async def oauth_callback(request: Request) -> Response:
        """Where the authorization server sends the browser back: check the state, redeem the code."""
        if deps.oauth is None or not oauth_offered:
            return refused(
                request, None, "This server has no built-in authorization server.", status_code=404
            )
        who = _client(request)
        if throttle.blocked(who):
            return await signin_page(
                request, "Too many failed sign-ins from this address: wait 5 minutes.", 429
            )
        opened = codec.open_flow(request.cookies.get(FLOW_COOKIE), deps.clock())
        try:
            if opened is None:
                raise SignInRefused(
                    "The sign-in could not be verified (it was not started from this browser, or took too "
                    "long): start again.",
                    reason="no sign-in under way in this browser",
                    status_code=403,
                )
            through = await deps.oauth.finish(str(request.url), Flow(state=opened[0], verifier=opened[1]))
        except SignInRefused as exc:
            if exc.status_code == 403:  # not this browser's flow: anyone can send these, so they count
                throttle.failed(who)
            await deps.audit.admin_event(
                action="console.signin_refused",
                actor=who,
                target="console",
                details={"reason": exc.reason, "method": "authorization server"},
            )
            response = await signin_page(request, str(exc), exc.status_code)
            response.delete_cookie(FLOW_COOKIE, path="/console")
            return response
        return await signed_in(request, through.grant, through)

    async def _grant_for_signin(token: str) -> tuple[Grant | None, str]:
        refusal = "That token does not open a live grant for a person."
        if not token:
            return None, "Paste the grant token an administrator gave you."
        grant = await deps.grants.authenticate(token)
        if grant is None or not grant.is_live(deps.clock()):
            return None, refusal
        if grant.principal_kind is not PrincipalKind.PERSON:
            return None, "That grant belongs to an agent; the console is for people's grants."
        return grant, ""

    async def signout(request: Request) -> Response:
        viewer = await viewer_of(request)
        if viewer is None:
            return to_signin()
        if await form_of(request, viewer.cookie) is None:
            return refused(request, viewer, "The sign-out form was not sent from this console.")
        await deps.audit.admin_event(
            action="console.signed_out",
            actor=viewer.actor,
            target=viewer.grant.id,
            details={"method": "grant token" if viewer.family_id is None else "authorization server"},
        )
        if viewer.family_id is not None and deps.oauth is not None:
            await deps.oauth.provider.revoke_family(
                viewer.family_id, actor=viewer.actor, reason="console sign-out"
            )
        response = to_signin()
        response.delete_cookie(SESSION_COOKIE, path="/console")
        return response

    # -- audit pages ----------------------------------------------------------------------------------

    async def reviewer(request: Request) -> Viewer | Response:
        viewer = await viewer_of(request)
        if viewer is None:
            return to_signin()
        if not viewer.holds(Scope.AUDIT_READ):
            return refused(request, viewer, "Reading the audit log needs the audit:read scope on your grant.")
        return viewer

    async def search(request: Request) -> Response:
        viewer = await reviewer(request)
        if not isinstance(viewer, Viewer):
            return viewer
        form = read_form(request.query_params)
        flt = to_filter(form, deps.clock(), viewer.environments)
        records: list[AuditRecord] = []
        total = 0
        if not form.errors:
            total = await count_records(deps.store, flt)
            records = await page_records(deps.store, flt, limit=form.page_size, before_seq=form.before)
        newer = 0
        if form.before is not None and not form.errors:
            newer = total - await count_before(deps.store, flt, form.before)
        next_cursor = records[-1].seq if len(records) == form.page_size else None
        return page(
            request,
            "search.html",
            viewer,
            form=form,
            records=records,
            total=total,
            first_index=newer + 1,
            next_query=form.query_string(before=next_cursor) if next_cursor else None,
            first_query=form.query_string() if form.before is not None else None,
            presets=PRESETS,
            decisions=DECISIONS,
            outcomes=OUTCOMES,
            page_sizes=PAGE_SIZES,
            export_query=form.query_string(),
        )

    async def export(request: Request) -> Response:
        viewer = await reviewer(request)
        if not isinstance(viewer, Viewer):
            return viewer
        form = read_form(request.query_params)
        flt = to_filter(form, deps.clock(), viewer.environments)
        try:
            fmt = ExportFormat(request.query_params.get("format", "jsonl"))
        except ValueError:
            form.errors.append("format: choose jsonl, csv or ocsf")
        if form.errors:
            return refused(request, viewer, "; ".join(form.errors), status_code=400)
        await deps.audit.admin_event(
            action="audit.exported", actor=viewer.actor, target="audit", details={"format": fmt.value}
        )

        async def lines() -> AsyncIterator[bytes]:
            async for line in render_lines_async(
                iter_records(deps.store, flt), fmt, activities=deps.activities
            ):
                yield line.encode()

        media = "text/csv" if fmt is ExportFormat.CSV else "application/x-ndjson"
        extension = "csv" if fmt is ExportFormat.CSV else "jsonl"
        response = StreamingResponse(lines(), media_type=media)
        response.headers["Content-Disposition"] = (
            f'attachment; filename="persona-mcp-audit.{fmt.value}.{extension}"'
        )
        return secured(response)

    async def record_detail(request: Request) -> Response:
        viewer = await reviewer(request)
        if not isinstance(viewer, Viewer):
            return viewer
        seq = int(request.path_params["seq"])
        record = await record_at(deps.store, seq)
        if record is None or not await _may_see(viewer, record):
            return refused(request, viewer, f"No record {seq} that your grant lets you see.", status_code=404)
        siblings: list[AuditRecord] = []
        if record.call_id:
            siblings = await page_records(
                deps.store,
                AuditFilter(call_id=record.call_id, environments=viewer.environments),
                limit=20,
                oldest_first=True,
            )
        checkpoint = await covering_checkpoint(deps.store, seq)
        return page(
            request,
            "record.html",
            viewer,
            record=record,
            body=record.canonical_bytes().decode(),
            siblings=siblings,
            checkpoint=checkpoint,
        )

    async def _may_see(viewer: Viewer, record: AuditRecord) -> bool:
        if viewer.environments is None:
            return True
        found = await page_records(
            deps.store, AuditFilter(environments=viewer.environments), limit=1, before_seq=record.seq + 1
        )
        return bool(found) and found[0].seq == record.seq

    async def timeline(request: Request) -> Response:
        viewer = await reviewer(request)
        if not isinstance(viewer, Viewer):
            return viewer
        object_id = request.path_params["object_id"]
        after = request.query_params.get("after", "")
        flt = AuditFilter(object_id=object_id, environments=viewer.environments)
        total = await count_records(deps.store, flt)
        records = await page_records(
            deps.store,
            flt,
            limit=TIMELINE_PAGE,
            before_seq=int(after) if after.isdigit() else None,
            oldest_first=True,
        )
        shown_before = await count_before(deps.store, flt, records[0].seq) if records else 0
        return page(
            request,
            "timeline.html",
            viewer,
            object_id=object_id,
            records=records,
            total=total,
            first_index=shown_before + 1,
            next_after=records[-1].seq if len(records) == TIMELINE_PAGE else None,
        )

    async def verify(request: Request) -> Response:
        viewer = await reviewer(request)
        if not isinstance(viewer, Viewer):
            return viewer
        if request.method == "POST":
            if await form_of(request, viewer.cookie) is None:
                return refused(request, viewer, "The verify form was not sent from this console.")
            verify_runs.start(viewer.actor)
            return secured(RedirectResponse("/console/audit/verify", status_code=303))
        return page(request, "verify.html", viewer, run=verify_runs.last)

    # -- admin pages ----------------------------------------------------------------------------------

    async def admin(request: Request) -> Viewer | Response:
        viewer = await viewer_of(request)
        if viewer is None:
            return to_signin()
        if not viewer.holds(Scope.ADMIN):
            return refused(request, viewer, "The admin pages need the admin scope on your grant.")
        return viewer

    def effective_tools(grant: Grant) -> list[str]:
        # The very function `tools/list` uses, over the tools this server exposes.
        return [spec.name for spec in visible(grant, deps.exposed, now=deps.clock())]

    async def grants_page(
        request: Request, *, issued: tuple[Grant, str] | None = None, error: str | None = None
    ) -> Response:
        viewer = await admin(request)
        if not isinstance(viewer, Viewer):
            return viewer
        now = deps.clock()
        rows = []
        for grant in await deps.grants.list_all():
            rows.append(
                {
                    "grant": grant,
                    "state": grant.state(now).value,
                    "last_use": await last_recorded_at(deps.store, grant.id),
                    "tools": effective_tools(grant),
                }
            )
        return page(
            request,
            "grants.html",
            viewer,
            rows=rows,
            issued=issued,
            error=error,
            environments=[e.value for e in Environment],
            scopes=[s.value for s in Scope],
            kinds=[k.value for k in PrincipalKind],
            status_code=400 if error else 200,
        )

    async def grants_view(request: Request) -> Response:
        if request.method == "GET":
            return await grants_page(request)
        viewer = await admin(request)
        if not isinstance(viewer, Viewer):
            return viewer
        form = await form_of(request, viewer.cookie)
        if form is None:
            return refused(request, viewer, "The grant form was not sent from this console.")
        try:
            draft = _draft_from(form, deps.clock())
            issued = await deps.grants.create(draft, actor=viewer.actor)
        except (GrantError, UnknownScopeError, ValueError) as exc:
            return await grants_page(request, error=str(exc))
        return await grants_page(request, issued=(issued.grant, issued.token))

    async def grant_action(request: Request) -> Response:
        viewer = await admin(request)
        if not isinstance(viewer, Viewer):
            return viewer
        if await form_of(request, viewer.cookie) is None:
            return refused(request, viewer, "The grant form was not sent from this console.")
        grant_id, action = request.path_params["grant_id"], request.path_params["action"]
        try:
            if action == "revoke":
                await deps.grants.revoke(grant_id, actor=viewer.actor)
                return await grants_page(request)
            if action == "rotate":
                issued = await deps.grants.rotate(grant_id, actor=viewer.actor)
                return await grants_page(request, issued=(issued.grant, issued.token))
        except GrantError as exc:
            return await grants_page(request, error=str(exc))
        return refused(request, viewer, f"Unknown grant action {action!r}.", status_code=404)

    async def plan_view(request: Request) -> Response:
        viewer = await admin(request)
        if not isinstance(viewer, Viewer):
            return viewer
        if request.method == "GET":
            return page(request, "plan.html", viewer, text="", plan=None, error=None, applied=None)
        form = await form_of(request, viewer.cookie)
        if form is None:
            return refused(request, viewer, "The plan form was not sent from this console.")
        text = form.get("grants_toml", "")
        try:
            declared = grants_file.parse(tomllib.loads(text), now=deps.clock(), origin="pasted grants.toml")
            grants_file.check_tools(declared, [spec.name for spec in deps.exposed])
            planned = await grants_file.plan(deps.grants, declared)
            applied = None
            if form.get("apply") == "1":
                applied = await grants_file.apply(deps.grants, planned, actor=viewer.actor)
        except (tomllib.TOMLDecodeError, grants_file.GrantsFileError, GrantError, ValueError) as exc:
            return page(
                request,
                "plan.html",
                viewer,
                text=text,
                plan=None,
                error=str(exc),
                applied=None,
                status_code=400,
            )
        return page(request, "plan.html", viewer, text=text, plan=planned, error=None, applied=applied)

    async def credentials_view(request: Request) -> Response:
        viewer = await admin(request)
        if not isinstance(viewer, Viewer):
            return viewer
        return page(request, "credentials.html", viewer, credentials=list(await deps.list_credentials()))

    # -- approvals ------------------------------------------------------------------------------------

    async def approver_of(request: Request) -> tuple[Viewer, Approver] | Response:
        """The signed-in person as an approver, by the CLI's rules: a person grant with
        approvals:decide (sees arguments in clear with pii:read), or an admin (sees them masked)."""
        viewer = await viewer_of(request)
        if viewer is None:
            return to_signin()
        if deps.review is None:
            return refused(request, viewer, "This server does not hold calls for approval.", status_code=404)
        if viewer.holds(Scope.APPROVALS_DECIDE):
            return viewer, Approver(viewer.person, viewer.grant, viewer.token_scopes)
        if viewer.holds(Scope.ADMIN):
            return viewer, Approver(f"{viewer.person} (console)", None)
        return refused(request, viewer, "Deciding approvals needs approvals:decide (or admin) on your grant.")

    async def approvals_page(request: Request) -> Response:
        found = await approver_of(request)
        if not isinstance(found, tuple):
            return found
        viewer, _approver = found
        assert deps.review is not None
        pending = await deps.review.listing()
        return page(request, "approvals.html", viewer, approvals=pending, now=deps.clock())

    async def approval_page(
        request: Request, *, error: str | None = None, status_code: int = 200
    ) -> Response:
        found = await approver_of(request)
        if not isinstance(found, tuple):
            return found
        viewer, approver = found
        assert deps.review is not None
        try:
            view = await deps.review.show(request.path_params["approval_id"], approver)
        except ReviewError as exc:
            return refused(request, viewer, str(exc), status_code=404)
        return page(
            request,
            "approval.html",
            viewer,
            view=view,
            arguments=json.dumps(view.arguments, indent=2, sort_keys=True) if view.arguments else "",
            error=error,
            status_code=status_code,
        )

    async def approval_decision(request: Request) -> Response:
        found = await approver_of(request)
        if not isinstance(found, tuple):
            return found
        viewer, approver = found
        assert deps.review is not None
        form = await form_of(request, viewer.cookie)
        if form is None:
            return refused(request, viewer, "The decision form was not sent from this console.")
        approve = request.path_params["decision"] == "approve"
        try:
            await deps.review.decide(
                request.path_params["approval_id"], approver, approve=approve, reason=form.get("reason", "")
            )
        except ReviewError as exc:
            return await approval_page(request, error=str(exc), status_code=400)
        return await approval_page(request)

    static = StaticFiles(directory=str(Path(__file__).parent / "static"))
    routes: list[Any] = [
        Route("/", home),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/oauth/start", oauth_start, methods=["POST"]),
        Route("/oauth/callback", oauth_callback),
        Route("/audit", search),
        Route("/audit/export", export),
        Route("/audit/records/{seq:int}", record_detail),
        Route("/audit/objects/{object_id:str}", timeline),
        Route("/audit/verify", verify, methods=["GET", "POST"]),
        Route("/admin/grants", grants_view, methods=["GET", "POST"]),
        Route("/admin/grants/{grant_id:str}/{action:str}", grant_action, methods=["POST"]),
        Route("/admin/plan", plan_view, methods=["GET", "POST"]),
        Route("/admin/credentials", credentials_view),
        Route("/approvals", approvals_page),
        Route("/approvals/{approval_id:str}", approval_page),
        Route("/approvals/{approval_id:str}/{decision:str}", approval_decision, methods=["POST"]),
        Mount("/static", app=static),
    ]
    console = Starlette(routes=routes)
    console.state.verify_runs = verify_runs
    return console


def _draft_from(form: dict[str, str], now: datetime) -> GrantDraft:
    principal = form.get("principal", "").strip()
    if not principal:
        raise ValueError("principal: name who the grant is for")
    scopes = parse_scopes(form.get("scopes", "").replace(",", " ").split())
    expires = form.get("expires_at", "").strip()

    return GrantDraft(
        principal=principal,
        environment=Environment(form.get("environment", "sandbox")),
        scopes=scopes or None,
        principal_kind=PrincipalKind(form.get("principal_kind", PrincipalKind.AGENT.value)),
        expires_at=parse_time(expires, now) if expires else None,
        label=form.get("label", "").strip() or None,
    )


__all__ = ["ConsoleDeps", "build_console"]
