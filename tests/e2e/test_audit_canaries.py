"""No free-text argument reaches the audit log in clear: every string argument of every tool, at any depth,
is filled with a unique canary and called through the real pipeline (allowed, invalid and denied), then
the raw bytes of the SQLite file, its WAL and the jsonl/csv/ocsf exports are searched for any canary.

Arguments come from each tool's input JSON schema as `tools/list` shows it. A string field gets a canary
(`canary0042@example.com`, or the same inside an https URL, or a phone number `+1 555 90042`) whenever one
fits its schema; only a field whose pattern admits none of them (an id, an enum, a date, a country code,
an attribute name) gets a valid value instead. A separate test holds every field the models declare safe
to a schema that leaves no room for free text, so a safe declaration cannot hide a free-text field.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from persona_mcp.audit.export import ExportFormat, render_lines
from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.auth.scopes import Scope
from persona_mcp.pii import Handling, safe_field_names
from persona_mcp.store import create_store
from persona_mcp.testing import Harness, connected, issue_grant
from persona_mcp.tools import CATALOGUE, catalogue
from persona_mcp.tools.list_items import VALUE_FIELDS
from persona_mcp.tools.mcp_schema import DRY_RUN, input_schema
from persona_mcp.tools.spec import ToolSpec

pytestmark = pytest.mark.anyio

AnySpec = ToolSpec[Any, Any]

#: Valid values for fields whose pattern admits no canary; the first that matches is used.
SAFE_SAMPLES = (
    "act_Canned0000000001",
    "DE",
    "status",
    "parent-of",
    "pp",
    "2025-12-08",
    "inquiry.approved",
    "entity",
)
#: Uploads whose model reads inside the file (a CSV header, an image), which no schema can state: their valid
#: calls are tested in tests/tools/test_second_tier_data.py; here they are called invalid and denied.
CONTENT_CHECKED = frozenset({"import_list_items", "import_accounts", "import_faces"})
#: Parts of an uploaded file (base64 content, its name, or an MCP embedded resource): the generator
#: cannot make a file the model accepts, and the upload tests (tests/tools/test_second_tier_data.py)
#: check that the audit log keeps only a digest of it.
_UPLOAD_PARTS = ("base64", "filename", "resource")


def _upload_part(path: str) -> bool:
    return any(part in _UPLOAD_PARTS for part in path.split(".")[1:])


#: A personal date (birthdate) cannot carry a canary; it is searched for instead.
PERSONAL_DATE = "1987-03-14"
_ID_PREFIXES = re.compile(r"^\^(?:\(\?:)?([a-z|]+)\)?_\[A-Za-z0-9\]")


@dataclass
class Canaries:
    """Hands out unique canaries and remembers where each one went."""

    placed: dict[str, str] = field(default_factory=dict)  # canary -> "tool: path"

    def _next(self, where: str, make: Callable[[int], str]) -> str:
        value = make(len(self.placed) + 1)
        self.placed[value] = where
        return value

    def text(self, where: str) -> str:
        return self._next(where, lambda n: f"canary{n:04d}@example.com")

    def key(self, where: str) -> str:
        return self._next(where, lambda n: f"canary{n:04d}key")

    def forms(self, where: str) -> list[Callable[[], str]]:
        """Every way a canary can be written, most readable first (tried against a field's pattern)."""
        return [
            lambda: self.text(where),
            lambda: self._next(where, lambda n: f"https://example.com/canary{n:04d}@example.com"),
            lambda: self._next(where, lambda n: f"+1 555 9{n:04d}"),
            # File content sent as base64 (uploads): the canary's own base64, searched for as written.
            lambda: self._next(
                where, lambda n: base64.b64encode(f"canary{n:04d}@example.com".encode()).decode()
            ),
        ]


class Filler:
    """Arguments for one tool: every field present, every string a canary where its schema allows."""

    def __init__(self, spec: AnySpec, canaries: Canaries) -> None:
        self._spec = spec
        self._schema = input_schema(spec)
        self._canaries = canaries

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        if ref is None:
            return schema
        return self._resolve(self._schema["$defs"][ref.rsplit("/", 1)[-1]])

    def arguments(self) -> dict[str, Any]:
        value = self.fill({**self._schema, "properties": self.properties()}, "")
        assert isinstance(value, dict)
        return value

    def properties(self) -> dict[str, Any]:
        # Real calls: a write tool's dry_run would keep them from reaching Persona and the store.
        return {k: v for k, v in self._schema.get("properties", {}).items() if k != DRY_RUN}

    def fill(self, schema: dict[str, Any], path: str) -> Any:
        schema = self._resolve(schema)
        where = f"{self._spec.name}: {path or '(top)'}"
        for union in ("anyOf", "oneOf"):
            if union in schema:
                branches = [b for b in schema[union] if self._resolve(b).get("type") != "null"]
                return self.fill(branches[0], path)
        if "enum" in schema:
            return schema["enum"][0]
        if "const" in schema:
            return schema["const"]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            out = {
                name: self.fill(sub, f"{path}.{name}".lstrip("."))
                for name, sub in schema.get("properties", {}).items()
            }
            extra = schema.get("additionalProperties")
            if extra not in (None, False):
                sub = extra if isinstance(extra, dict) else {"type": "string"}
                out[self._canaries.key(f"{where} (a key)")] = self.fill(sub, f"{path}.*")
            return out
        if kind == "array":
            return [self.fill(schema.get("items", {}), f"{path}[]")]
        if kind == "integer":
            return int(schema.get("minimum", 1))
        if kind == "number":
            return float(schema.get("minimum", 1.5))
        if kind == "boolean":
            return True
        return self._string(schema, where)

    def _string(self, schema: dict[str, Any], where: str) -> str:
        fmt = schema.get("format")
        if fmt == "date-time":
            return "2025-01-02T03:04:05Z"
        if fmt == "date":
            return PERSONAL_DATE
        pattern = schema.get("pattern")
        if pattern is None:
            canary = self._canaries.text(where)
            assert len(canary) <= schema.get("maxLength", 10_000), where
            return canary
        for form in self._canaries.forms(where):
            candidate = form()
            if re.fullmatch(pattern, candidate):
                return candidate
            self._canaries.placed.pop(candidate)
        prefixes = _ID_PREFIXES.match(pattern)
        if prefixes is not None:
            return f"{prefixes.group(1).split('|')[0]}_Canned0000000001"
        sample = next((s for s in SAFE_SAMPLES if re.fullmatch(pattern, s)), None)
        assert sample is not None, f"{where}: no sample matches {pattern}; add one to SAFE_SAMPLES"
        return sample


def _valid(spec: AnySpec, arguments: dict[str, Any]) -> bool:
    try:
        spec.input_model.model_validate(arguments)
    except ValidationError:
        return False
    return True


def _simulate_actions(full: dict[str, Any]) -> list[dict[str, Any]]:
    template = full["actions"][0]["verification_template_id"]
    steps = [
        {"type": "start_inquiry"},
        {"type": "create_passed_verification", "verification_template_id": template},
    ]
    return [{**full, "actions": steps}]


def _list_items(full: dict[str, Any]) -> list[dict[str, Any]]:
    base = {"list_id": full["list_id"]}
    return [
        {**base, "type": kind.value, **{name: full[name] for name in names}}
        for kind, names in VALUE_FIELDS.items()
    ]


#: Tools whose models tie fields together below the top level or by type: the argument sets to send.
SHAPED: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    "simulate_inquiry_actions": _simulate_actions,
    "create_list_item": _list_items,
}


def _candidates(spec: AnySpec, full: dict[str, Any]) -> list[dict[str, Any]]:
    """Every field at once, then (for exactly-one-of pairs and per-type fields) every field but one, and
    the required fields with one optional field at a time, under each value of the top-level enums."""
    if spec.name in SHAPED:
        return SHAPED[spec.name](full)
    schema = input_schema(spec)
    required = set(schema.get("required", []))
    defs = schema.get("$defs", {})
    properties = {
        name: defs[sub["$ref"].rsplit("/", 1)[-1]] if "$ref" in sub else sub
        for name, sub in schema.get("properties", {}).items()
    }
    enums = {name: sub["enum"] for name, sub in properties.items() if "enum" in sub}
    found = [full]
    for assignment in itertools.product(*enums.values()):
        chosen = dict(zip(enums, assignment, strict=True))
        found.append({**full, **chosen})
        found.extend({k: v for k, v in {**full, **chosen}.items() if k != name} for name in full)
        base = {k: v for k, v in full.items() if k in required} | chosen
        found.extend({**base, name: full[name]} for name in full if name not in base)
    return found


def variants(spec: AnySpec, canaries: Canaries) -> list[dict[str, Any]]:
    """Argument sets that validate and together carry every field (each kept only if it adds one)."""
    covered: set[str] = set()
    chosen = []
    for args in _candidates(spec, Filler(spec, canaries).arguments()):
        paths = _leaf_paths(args)
        if (not chosen or not paths <= covered) and _valid(spec, args):
            chosen.append(args)
            covered |= paths
    return chosen


def _leaf_paths(value: Any, path: str = "") -> set[str]:
    if isinstance(value, dict):
        return {p for k, v in value.items() for p in _leaf_paths(v, f"{path}.{k}" if path else k)}
    if isinstance(value, list):
        return {p for v in value for p in _leaf_paths(v, path)}
    return {path}


async def _call(h: Harness, tool: str, arguments: dict[str, Any]) -> None:
    # Refusals come back as JSON-RPC errors; their records are what is searched.
    with contextlib.suppress(MCPError):
        await h.client.call_tool(tool, arguments)


def _stored_bytes(database: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(database.parent.glob(database.name + "*"))}


def _leaks(blobs: dict[str, bytes], canaries: Canaries) -> list[str]:
    found = []
    for name, blob in blobs.items():
        lowered = blob.lower()
        for canary, where in canaries.placed.items():
            if canary.lower().encode() in lowered:
                found.append(f"{canary} ({where}) in {name}")
        for stray in re.findall(rb"canary\d{4}", lowered):
            if not any(stray.decode() in c for c in canaries.placed):
                found.append(f"{stray!r} in {name}")
        if PERSONAL_DATE.encode() in blob:
            found.append(f"{PERSONAL_DATE} in {name}")
    return found


async def test_no_string_argument_of_any_tool_reaches_the_database_its_wal_or_an_export_in_clear(
    tmp_path: Path,
) -> None:
    canaries = Canaries()
    database = tmp_path / "audit.sqlite3"
    url = f"sqlite+aiosqlite:///{database}"
    uncovered: dict[str, set[str]] = {}
    snapshots: dict[str, bytes] = {}
    async with connected(tmp_path / "data", list(Scope), database_url=url) as h:
        listed = {tool.name for tool in (await h.client.list_tools()).tools}
        assert listed == {spec.name for spec in CATALOGUE}
        everything = h.token
        only_events = await issue_grant(h.app, [Scope.EVENTS_READ])
        only_audit = await issue_grant(h.app, [Scope.AUDIT_READ])

        for spec in CATALOGUE:
            h.sandbox.reset()
            sets = variants(spec, canaries)
            assert sets or spec.name in CONTENT_CHECKED, f"{spec.name}: no argument set validates"
            filled = Filler(spec, canaries).properties()
            covered = {p for args in sets for p in _leaf_paths(args)}
            strings = {p for p in _leaf_paths(Filler(spec, Canaries()).arguments())}
            if sets:
                uncovered[spec.name] = {
                    p for p in strings - covered if p.split(".")[0] in filled and not _upload_part(p)
                }
            for args in sets:
                await _call(h, spec.name, args)
            # Invalid: every field filled, plus an argument the model does not know.
            await _call(
                h,
                spec.name,
                {**Filler(spec, canaries).arguments(), canaries.key("invalid"): canaries.text("invalid")},
            )
            # Denied: a grant without the tool's scope.
            h.app.caller_source.token = only_audit if spec.scope is Scope.EVENTS_READ else only_events  # type: ignore[attr-defined]
            await _call(h, spec.name, Filler(spec, canaries).arguments())
            h.app.caller_source.token = everything  # type: ignore[attr-defined]
        await _call(h, "no_such_tool", {canaries.key("unknown tool"): canaries.text("unknown tool")})
        h.app.caller_source.token = None  # type: ignore[attr-defined]
        await _call(
            h,
            "get_account",
            Filler(catalogue.get("get_account"), canaries).arguments()
            | {"x": canaries.text("unauthenticated")},
        )
        snapshots.update({f"{name} (open)": blob for name, blob in _stored_bytes(database).items()})

    assert {tool: paths for tool, paths in uncovered.items() if paths} == {}, (
        "fields never sent in a call that validated"
    )
    assert any(name.endswith("-wal (open)") for name in snapshots), "the WAL was searched while in use"
    snapshots.update(_stored_bytes(database))
    store = create_store(url)
    try:
        records = [r async for r in iter_records(store, AuditFilter())]
    finally:
        await store.close()
    assert len(records) > 3 * len(CATALOGUE)
    for fmt in ExportFormat:
        snapshots[f"export.{fmt.value}"] = "".join(render_lines(records, fmt)).encode()

    leaks = _leaks(snapshots, canaries)
    leaked_fields = sorted({leak.split(" (", 1)[1].rsplit(") in ", 1)[0] for leak in leaks if " (" in leak})
    assert leaks == [], "arguments stored in clear:\n" + "\n".join(leaked_fields)


def _string_schemas(
    schema: dict[str, Any], defs: dict[str, Any], path: str = ""
) -> dict[str, dict[str, Any]]:
    """Every string-bearing property (at any depth) -> its schema, unions flattened."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    found: dict[str, dict[str, Any]] = {}
    for union in ("anyOf", "oneOf"):
        for branch in schema.get(union, []):
            found.update(_string_schemas(branch, defs, path))
    for name, sub in schema.get("properties", {}).items():
        found.update(_string_schemas(sub, defs, f"{path}.{name}".lstrip(".")))
    if schema.get("type") == "array":
        found.update(_string_schemas(schema.get("items", {}), defs, path))
    if schema.get("type") == "string" or "enum" in schema:
        found[path] = schema
    return found


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda spec: spec.name)
def test_every_field_declared_safe_has_a_schema_that_leaves_no_room_for_free_text(spec: AnySpec) -> None:
    schema = input_schema(spec)
    strings = _string_schemas(schema, schema.get("$defs", {}))
    for path, handling in safe_field_names(spec.input_model).items():
        sub = strings.get(path)
        assert sub is not None, f"{spec.name}: {path} is declared safe but is not a string in the schema"
        constrained = "enum" in sub or "const" in sub or sub.get("format") in ("date", "date-time")
        if not constrained:
            pattern = sub.get("pattern", "")
            assert pattern.startswith("^") and pattern.endswith("$"), (
                f"{spec.name}: {path} has no anchored pattern"
            )
            assert not re.search(r"(?<!\\)\.[*+{]|\\S|\[\^", pattern), (
                f"{spec.name}: {path} is declared safe but its pattern {pattern} admits free text"
            )
        if handling is Handling.OBJECT_ID:
            assert "_" in sub.get("pattern", ""), f"{spec.name}: {path} is an object id without an id pattern"
