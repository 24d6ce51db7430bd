"""Reports: screenings and look-ups run against a query, finishing in the background (PROTOCOL.md 5, 14).

A report is created `pending` and becomes `ready` after `state.report_ticks` further API requests on the
sandbox's simulation clock, firing `report/<kind>.ready` (and `.matched` when it hits). Screening kinds
hit when any query value contains the sandbox's magic word `Sanctioned` (case-insensitive), so tests can
ask for a match; dismissing the matches clears `has-match` and keeps them on the ignore list.
Pausing and resuming continuous monitoring, re-runs and dismissals are kept in the report's history.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from persona_mcp.sandbox import validation
from persona_mcp.sandbox.clock import now_iso
from persona_mcp.sandbox.domain import accounts
from persona_mcp.sandbox.errors import ApiError, conflict, invalid_attribute
from persona_mcp.sandbox.records import Record, ref
from persona_mcp.sandbox.store import SandboxState

MAGIC_MATCH = "sanctioned"
_NAMES = ("name-first", "name-middle", "name-last", "term")
_SANDBOX_REVIEWER = "Sandbox Reviewer"


@dataclass(frozen=True)
class ReportKind:
    """How one creatable report type reads its query and renders its answer.

    `echo` maps query keys to the top-level attributes they are shown as; `nested` kinds show the query
    as a `query` object instead. `required` lists groups of which at least one key must be given.
    """

    echo: dict[str, str] = field(default_factory=dict)
    nested: bool = False
    required: tuple[tuple[str, ...], ...] = ()
    ready: dict[str, Any] = field(default_factory=dict)
    screening: bool = False
    match: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    #: Attributes the spec never allows to be null: redaction removes them instead of blanking them.
    not_null: frozenset[str] = frozenset()


def _same(*keys: str) -> dict[str, str]:
    return {key: key for key in keys}


def _list_hit(query: dict[str, Any]) -> dict[str, Any]:
    entity = {"name": _term(query), "alias-type": "primary_name"}
    listed = {
        "name": "Sandbox consolidated sanctions list",
        "url": "https://example.com/sandbox-sanctions",
        "list-type": "sanction",
        "list-types": ["sanction"],
        "slug": "sandbox-sanctions",
        "flag-code": "US",
        "entities": [entity],
    }
    return {"matched-lists": [listed]}


def _pep_hit(query: dict[str, Any]) -> dict[str, Any]:
    position = {"name": "Sandbox minister", "start-date": "2020-01-01", "end-date": None}
    person = {"entity-id": "SANDBOXPEP1", "name": _term(query), "country": "United States"}
    return {"result": [{**person, "topics": ["PEP"], "positions": [position]}]}


def _media_hit(query: dict[str, Any]) -> dict[str, Any]:
    media = {"date": "2024-01-15", "snippet": f"{_term(query)} named in a sandbox sanctions story."}
    return {"related-sources": [{"akas": [_term(query)], "media": [media]}]}


def _crypto_hit(query: dict[str, Any]) -> dict[str, Any]:
    listed = {
        "name": "Sandbox crypto sanctions list",
        "url": "https://example.com/sandbox-crypto-sanctions",
        "list-type": "sanction",
        "slug": "sandbox-crypto-sanctions",
        "flag-code": "US",
    }
    return {"result": [listed]}


KINDS: dict[str, ReportKind] = {
    "report/watchlist": ReportKind(
        echo=_same(*_NAMES, "birthdate") | {"address-country-code": "country-code"},
        required=(_NAMES,),
        ready={"matched-lists": [], "ignore-list": []},
        screening=True,
        match=_list_hit,
    ),
    "report/politically-exposed-person": ReportKind(
        nested=True,
        required=(_NAMES,),
        ready={"result": [], "ignore-list": []},
        screening=True,
        match=_pep_hit,
    ),
    "report/adverse-media": ReportKind(
        echo=_same(*_NAMES, "birthdate", "country-code"),
        required=(_NAMES,),
        ready={"related-sources": [], "ignore-list-media": {}, "ignore-list-entity": []},
        screening=True,
        match=_media_hit,
        not_null=frozenset({"term"}),
    ),
    "report/business-adverse-media": ReportKind(
        echo=_same("term"),
        required=(("term",),),
        ready={"related-sources": [], "result": {}},
        screening=True,
        match=_media_hit,
        not_null=frozenset({"term"}),
    ),
    "report/business-watchlist": ReportKind(
        required=(("term",),),
        ready={"matched-lists": [], "sanction-list": [], "fitness-probity-list": [], "warning-list": []},
        screening=True,
        match=lambda _query: {"matched-lists": ["sandbox-sanctions"]},
    ),
    "report/crypto-address-watchlist": ReportKind(
        nested=True,
        required=(("crypto-address",),),
        ready={"result": []},
        screening=True,
        match=_crypto_hit,
    ),
    "report/address-lookup": ReportKind(
        echo=_same(
            "addressee",
            "address-street-1",
            "address-street-2",
            "address-city",
            "address-subdivision",
            "address-postal-code",
        ),
        required=(
            ("address-street-1",),
            ("address-city",),
            ("address-subdivision",),
            ("address-postal-code",),
            ("address-country-code",),
        ),
        ready={"metadata-record-type": "S", "analysis-dpv-match-code": "Y", "error-message": None},
    ),
    "report/business-lookup": ReportKind(
        nested=True, required=(("business-name",),), ready={"result": {}, "match-status-strength": "none"}
    ),
    "report/email-address": ReportKind(
        echo=_same("email-address"),
        required=(("email-address",),),
        ready={"email-reputation": "high", "email-is-deliverable": True, "email-is-disposable": False},
        not_null=frozenset({"email-address", "email-domain"}),
    ),
    "report/phone-number": ReportKind(
        echo=_same("phone-number"),
        required=(("phone-number",),),
        ready={"phone-type": "mobile", "phone-risk-level": "low", "phone-risk-score": 12},
        not_null=frozenset({"phone-number"}),
    ),
    "report/profile": ReportKind(
        echo=_same(
            "name-first",
            "name-last",
            "birthdate",
            "address-street-1",
            "address-street-2",
            "address-city",
            "address-subdivision",
            "address-postal-code",
            "phone-number",
        ),
        required=(("name-first", "name-last", "social-security-number", "phone-number"),),
        ready={"identity-records": [], "omitted-identity-records": []},
    ),
    "report/profile-non-authoritative": ReportKind(
        nested=True,
        required=(("phone-number", "email-address", "name-last"),),
        ready={"result": {}},
    ),
    "report/social-media": ReportKind(
        echo=_same(
            "name-first",
            "name-last",
            "birthdate",
            "phone-number",
            "email-address",
            "address-city",
            "address-subdivision",
        ),
        required=(("phone-number", "email-address", "name-last"),),
        not_null=frozenset({"birthdate"}),
    ),
    "report/synthetic": ReportKind(
        required=(("name-first",), ("name-last",), ("birthdate",)),
        ready={
            "sentilink-abuse-score": 21,
            "sentilink-first-party-synthetic-score": 35,
            "sentilink-third-party-synthetic-score": 18,
        },
    ),
}


def _term(query: dict[str, Any]) -> str:
    if isinstance(query.get("term"), str) and query["term"]:
        return str(query["term"])
    names = [query.get(key) for key in ("name-first", "name-middle", "name-last")]
    return " ".join(str(n) for n in names if n) or str(next(iter(query.values()), ""))


def _kind_of(data: dict[str, Any]) -> tuple[str, ReportKind]:
    type_ = data.get("type")
    if type_ not in KINDS:
        raise ApiError(
            422,
            "Invalid attribute",
            f"data.type must be one of {', '.join(KINDS)}",
            pointer="/data/type",
        )
    return str(type_), KINDS[str(type_)]


def _query(kind: ReportKind, attributes: dict[str, Any]) -> dict[str, Any]:
    query = attributes.get("query")
    if not isinstance(query, dict):
        raise invalid_attribute("query", "data.attributes.query must be an object")
    query = {key.replace("_", "-"): value for key, value in query.items()}
    for key, value in query.items():
        if value is not None and not isinstance(value, str):
            raise invalid_attribute(f"query/{key}", f"data.attributes.query.{key} must be a string")
    for group in kind.required:
        if not any(query.get(key) for key in group):
            raise invalid_attribute(
                f"query/{group[0]}", f"data.attributes.query needs one of: {', '.join(group)}"
            )
    if query.get("birthdate") is not None:
        validation.check_date("query/birthdate", query["birthdate"])
    return query


def _account(state: SandboxState, attributes: dict[str, Any], meta: dict[str, Any]) -> Record | None:
    account_id = attributes.get("account-id")
    if account_id:
        return state.get(str(account_id), "account")
    reference_id = meta.get("auto-create-account-reference-id") or attributes.get("reference-id")
    if not reference_id or meta.get("auto-create-account") is False:
        return None
    existing = accounts.find_by_reference(state, str(reference_id))
    return existing or accounts.create_account(state, {"reference-id": str(reference_id)})


def _template_id(type_: str) -> str:
    return "rptp_Sandbox" + "".join(part.capitalize() for part in type_.split("/")[-1].split("-"))


def create_report(state: SandboxState, data: dict[str, Any], meta: dict[str, Any]) -> Record:
    """A pending report of `data.type`; its run completes on the simulation clock."""
    type_, kind = _kind_of(data)
    attributes = {key.replace("_", "-"): value for key, value in (data.get("attributes") or {}).items()}
    query = _query(kind, attributes)
    template_id = attributes.get("report-template-id") or _template_id(type_)
    validation.check_string("report-template-id", template_id)
    account = _account(state, attributes, meta)
    rendered: dict[str, Any] = {
        "status": "pending",
        "created-at": now_iso(),
        "completed-at": None,
        "redacted-at": None,
        "report-template-version-name": "v1",
        "has-match": False,
        "is-continuous": False,
        "is-recurring": False,
        "tags": [],
    }
    rendered.update(copy.deepcopy(kind.ready))  # empty results until the run completes
    for key, shown in kind.echo.items():
        if query.get(key) is not None:
            rendered[shown] = query[key]
    if "term" in kind.echo.values() and not rendered.get("term"):
        rendered["term"] = _term(query)
    if kind.nested:
        rendered["query"] = dict(query)
    report = state.add(
        "rep",
        type_,
        rendered,
        {
            "inquiry": {"data": None},
            "account": ref("account", account.id) if account else {"data": None},
            "transaction": {"data": None},
            "report-template": ref(f"report-template/{type_.split('/', 1)[1]}", str(template_id)),
        },
        **{"query": query, "history": [], "account-id": account.id if account else None, "paused": False},
    )
    _schedule_run(state, report, "manual")
    return report


def _schedule_run(state: SandboxState, report: Record, run_type: str) -> None:
    state.schedule(state.report_ticks, lambda s: _finish_run(s, report, run_type))


def complete_now(state: SandboxState, report: Record) -> Record:
    """Finish a pending run at once (seed data: reports that were ready before anyone looked)."""
    _finish_run(state, report, "manual")
    return report


def _finish_run(state: SandboxState, report: Record, run_type: str) -> None:
    """The run is done: results in, `ready`, and the events Persona fires for it."""
    if report.internal.get("redacted") or report.attributes["status"] != "pending":
        return
    kind = KINDS[report.type]
    query = report.internal["query"]
    hit = kind.match is not None and any(
        isinstance(v, str) and MAGIC_MATCH in v.lower() for v in query.values()
    )
    stamp = now_iso()
    report.attributes.update(copy.deepcopy(kind.ready))
    if hit and kind.match is not None and not report.internal.get("dismissed"):
        report.attributes.update(kind.match(query))
    report.attributes["has-match"] = hit and not report.internal.get("dismissed")
    report.attributes["status"] = "ready"
    report.attributes["completed-at"] = stamp
    matches = 1 if report.attributes["has-match"] else 0
    report.internal["history"].append(
        {
            "type": "run",
            "id": state.ids.new("rpr"),
            "run-type": run_type,
            "scheduled-date": stamp[:10],
            "completed-at": stamp,
            "matches": matches,
        }
    )
    state.emit(f"{report.type}.ready", report)
    if report.attributes["has-match"]:
        state.emit(f"{report.type}.matched", report)


def _action(state: SandboxState, report: Record, kind: str) -> None:
    report.internal["history"].append(
        {
            "type": kind,
            "id": state.ids.new("ract"),
            "created-at": now_iso(),
            "creator-name": _SANDBOX_REVIEWER,
        }
    )


def _refuse_redacted(report: Record, action: str) -> None:
    if report.internal.get("redacted"):
        raise conflict(f"Report {report.id} has been redacted and cannot be {action}")


def dismiss(state: SandboxState, report: Record, attributes: dict[str, Any]) -> Record:
    """Dismiss the report's matches: they move to the ignore list and `has-match` turns false."""
    _refuse_redacted(report, "dismissed")
    reason = attributes.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise invalid_attribute("reason", "data.attributes.reason is missing")
    if report.attributes["status"] != "ready":
        raise conflict(f"Report {report.id} is {report.attributes['status']}; dismiss it once it is ready")
    if report.type in ("report/adverse-media", "report/business-adverse-media"):
        for name in ("dismiss-type", "entity-id"):
            validation.check_string(name, attributes.get(name))
            if not attributes.get(name):
                raise invalid_attribute(name, f"data.attributes.{name} is required for {report.type}")
    report.internal["dismissed"] = True
    if "matched-lists" in report.attributes and "ignore-list" in report.attributes:
        stamp = now_iso()
        report.attributes["ignore-list"] = [
            *report.attributes["ignore-list"],
            *({"ignored-at": stamp, "match": match} for match in report.attributes["matched-lists"] or []),
        ]
        report.attributes["matched-lists"] = []
    report.attributes["has-match"] = False
    _action(state, report, "dismiss")
    if KINDS[report.type].screening:
        state.emit(f"{report.type}.dismissed", report)
    return report


def set_monitoring(state: SandboxState, report: Record, paused: bool) -> Record:
    """Pause or resume continuous monitoring (a no-op when already in that state)."""
    _refuse_redacted(report, "paused" if paused else "resumed")
    if report.internal["paused"] != paused:
        report.internal["paused"] = paused
        report.attributes["is-recurring"] = not paused
        _action(state, report, "pause" if paused else "resume")
    return report


def rerun(state: SandboxState, report: Record) -> Record:
    """Run the report again: back to pending, ready again on the simulation clock."""
    _refuse_redacted(report, "re-run")
    if report.attributes["status"] == "pending":
        raise conflict(f"Report {report.id} is still running")
    report.attributes["status"] = "pending"
    report.attributes["is-continuous"] = True
    _schedule_run(state, report, "manual")
    return report


_KEPT = frozenset(
    {
        "status",
        "created-at",
        "completed-at",
        "redacted-at",
        "report-template-version-name",
        "has-match",
        "is-continuous",
        "is-recurring",
        "tags",
    }
)


def redact(state: SandboxState, report: Record) -> Record:
    """Erase the query and results (personal data), keep the report's bookkeeping; idempotent."""
    if not report.internal.get("redacted"):
        for key in KINDS[report.type].not_null & report.attributes.keys():
            del report.attributes[key]
        for key, value in list(report.attributes.items()):
            if key not in _KEPT:
                report.attributes[key] = (
                    [] if isinstance(value, list) else {} if isinstance(value, dict) else None
                )
        report.attributes["redacted-at"] = now_iso()
        report.internal["redacted"] = True
        report.internal["query"] = {}
    return report


def history(report: Record) -> list[dict[str, Any]]:
    """Runs and reviewer actions, newest first."""
    entries: list[dict[str, Any]] = list(reversed(report.internal["history"]))
    return entries
