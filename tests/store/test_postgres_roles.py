"""The least-privilege PostgreSQL roles of docs/security.md work as documented, and hold the audit log.

The role SQL is read from the documentation itself, so the two cannot drift apart. Role and schema names
get a unique suffix (roles are shared by the whole cluster); everything is dropped afterwards. The steps
are the documented ones: the statements that set up roles and the schema run first (as a superuser); the
owner runs the migrations; the owner then runs the statements that grant on tables; the server then runs
under the app role, through the real pipeline, with a read and a write; the app role then tries to
change the audit log and must be refused by privileges (SQLSTATE 42501), not merely by the triggers; last,
a reviewer runs `persona-mcp audit verify` and `audit query` under the auditor role, which can read the
audit tables and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import psycopg
import pytest
from psycopg import errors, sql
from sqlalchemy.engine import make_url

from persona_mcp.audit.chain import PG_LOCK_SQL
from persona_mcp.store import create_store, upgrade
from persona_mcp.testing import connected

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

SECURITY_MD = Path(__file__).resolve().parents[2] / "docs" / "security.md"
AUDIT_TABLES = ("audit_records", "audit_checkpoints")
PERSONA_MCP = str(Path(sys.executable).with_name("persona-mcp"))
DOC_NAMES = re.compile(r"\bpersona_mcp(_owner|_app|_auditor)?\b")
#: A statement naming a table (or all tables/sequences of the schema) can only run after the migrations.
ON_TABLES = re.compile(r"\bON\s+(ALL\s+\w+\s+IN\s+SCHEMA\b|persona_mcp\.)", re.IGNORECASE)


def documented_statements() -> list[str]:
    """The SQL statements of the `PostgreSQL privileges` section of docs/security.md, in order."""
    text = SECURITY_MD.read_text()
    section = text.split("## PostgreSQL privileges", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.DOTALL)
    assert blocks, "docs/security.md has no sql block under 'PostgreSQL privileges'"
    code = "\n".join(line.split("--", 1)[0] for block in blocks for line in block.splitlines())
    return [" ".join(statement.split()) for statement in code.split(";") if statement.strip()]


@dataclass(frozen=True)
class Deployment:
    """Unique names for this test's roles and schema, and a URL for each role."""

    server: str  # the superuser URL the tests are configured with
    suffix: str
    password: str

    def name(self, documented: str) -> str:
        match = DOC_NAMES.fullmatch(documented)
        assert match, documented
        return f"pmcp_{self.suffix}{match.group(1) or ''}"

    @property
    def schema(self) -> str:
        return self.name("persona_mcp")

    def rename(self, statement: str) -> str:
        renamed = DOC_NAMES.sub(lambda m: self.name(m.group(0)), statement)
        return renamed.replace("'...'", f"'{self.password}'")

    def url(self, role: str) -> str:
        """A psycopg URL logging in as the documented `role` (e.g. `persona_mcp_app`)."""
        url = make_url(self.server).set(username=self.name(role), password=self.password)
        return url.render_as_string(hide_password=False)

    def roles(self) -> list[str]:
        return [self.name(f"persona_mcp{part}") for part in ("_app", "_auditor", "_owner")]


async def _cli(args: list[str], *, data_dir: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    """Run `persona-mcp` with this data dir and database (empty: the data dir's SQLite file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERSONA_MCP_", "PERSONA_API_"))}
    env["PERSONA_MCP_DATA_DIR"] = str(data_dir)
    if database_url:
        env["PERSONA_MCP_DATABASE_URL"] = database_url
    with anyio.fail_after(120):
        done = await anyio.run_process([PERSONA_MCP, *args], env=env, check=False)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def superuser(deployment: Deployment) -> psycopg.Connection:
    return psycopg.connect(deployment.server, autocommit=True)


def connect_as(deployment: Deployment, role: str) -> psycopg.Connection:
    return psycopg.connect(
        deployment.url(role).replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    )


@pytest.fixture
def deployment(postgres_url: str) -> Iterator[Deployment]:
    made = Deployment(server=postgres_url, suffix=uuid.uuid4().hex[:10], password=secrets.token_hex(12))
    yield made
    with superuser(made) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(made.schema)))
        for role in made.roles():
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if exists:
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_documented_role_sql_is_found_and_names_every_role_and_audit_table() -> None:
    statements = documented_statements()
    text = " ".join(statements)
    for name in ("persona_mcp_owner", "persona_mcp_app", "persona_mcp_auditor", *AUDIT_TABLES):
        assert name in text
    assert any(ON_TABLES.search(s) for s in statements) and not all(ON_TABLES.search(s) for s in statements)


async def test_the_server_runs_under_the_documented_app_role_which_cannot_alter_the_audit_log(
    deployment: Deployment, tmp_path: Path
) -> None:
    statements = documented_statements()
    setup = [deployment.rename(s) for s in statements if not ON_TABLES.search(s)]
    grants = [deployment.rename(s) for s in statements if ON_TABLES.search(s)]
    with superuser(deployment) as conn:
        for statement in setup:
            conn.execute(statement)  # type: ignore[arg-type]  # SQL from our own docs, names made unique

    owner_store = create_store(deployment.url("persona_mcp_owner"))
    try:
        await upgrade(owner_store)
    finally:
        await owner_store.close()
    with connect_as(deployment, "persona_mcp_owner") as owner:
        for statement in grants:
            owner.execute(statement)  # type: ignore[arg-type]
        tables = {
            row[0]
            for row in owner.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        }
    named = " ".join(grants)
    missing = sorted(table for table in tables if f"{deployment.schema}.{table}" not in named)
    assert missing == [], f"docs/security.md grants nothing on {missing}: add them to the second block"

    async with connected(tmp_path, ["accounts:write"], database_url=deployment.url("persona_mcp_app")) as h:
        read = await h.client.call_tool("list_accounts", {"reference_id": "usr-1001"})
        write = await h.client.call_tool("create_account", {"reference_id": "role-test"})
        assert not read.is_error and not write.is_error, (read.content, write.content)
        await h.app.grants.revoke((await h.app.grants.list_all())[0].id, actor="test")

    with connect_as(deployment, "persona_mcp_app") as app:
        kinds = [row[0] for row in app.execute("SELECT kind FROM audit_records ORDER BY seq")]
        assert {"call.intent", "call.outcome"} <= set(kinds)
        assert app.execute("SELECT count(*) FROM audit_checkpoints").fetchone() != (0,)
        app.execute(PG_LOCK_SQL)  # the chain lock needs no privilege
        before = app.execute("SELECT seq, hash FROM audit_records ORDER BY seq").fetchall()
        for table in AUDIT_TABLES:
            name = sql.Identifier(table)
            for attempt in (
                sql.SQL("UPDATE {} SET hash = hash").format(name),
                sql.SQL("DELETE FROM {}").format(name),
                sql.SQL("TRUNCATE {}").format(name),
                sql.SQL("ALTER TABLE {} DISABLE TRIGGER ALL").format(name),
                sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(name),
            ):
                with pytest.raises(errors.InsufficientPrivilege):
                    app.execute(attempt)
            for (trigger,) in app.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", (table,)
            ).fetchall():
                with pytest.raises(errors.InsufficientPrivilege):
                    app.execute(sql.SQL("DROP TRIGGER {} ON {}").format(sql.Identifier(trigger), name))
        assert app.execute("SELECT seq, hash FROM audit_records ORDER BY seq").fetchall() == before
        # The open-calls set: the write's intent was added and deleted again when its outcome settled it
        # (both under this role); the role can do nothing else to it.
        assert app.execute("SELECT count(*) FROM audit_open_calls").fetchone() == (0,)
        for attempt in (
            sql.SQL("UPDATE audit_open_calls SET seq = seq"),
            sql.SQL("TRUNCATE audit_open_calls"),
            sql.SQL("ALTER TABLE audit_open_calls DISABLE TRIGGER ALL"),
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                app.execute(attempt)

    # The reviewer, on another host with only the public key, verifies and queries as the auditor role.
    reviewer = tmp_path / "reviewer"
    reviewer.mkdir()
    pem = reviewer / "audit.pub.pem"
    exported = await _cli(["audit", "pubkey", "--output", str(pem)], data_dir=tmp_path, database_url="")
    assert exported.returncode == 0, exported.stderr
    as_auditor = {"data_dir": reviewer, "database_url": deployment.url("persona_mcp_auditor")}
    # The reviewer holds the public key and the checkpoints the server kept outside the database.
    mirror = tmp_path / "audit-checkpoints.jsonl"
    verified = await _cli(
        ["audit", "verify", "--json", "--pubkey", str(pem), "--checkpoint", str(mirror)], **as_auditor
    )
    assert verified.returncode == 0, verified.stderr[-2000:]
    assert json.loads(verified.stdout)["ok"] is True
    queried = await _cli(["audit", "query", "--json", "--tool", "create_account"], **as_auditor)
    assert queried.returncode == 0, queried.stderr[-2000:]
    assert [json.loads(line)["kind"] for line in queried.stdout.splitlines()] == [
        "call.intent",
        "call.outcome",
    ]
    unresolved = await _cli(["audit", "query", "--json", "--unresolved"], **as_auditor)
    assert unresolved.returncode == 0, unresolved.stderr[-2000:]
    assert unresolved.stdout.strip() == "", "the write was settled"

    with connect_as(deployment, "persona_mcp_auditor") as auditor:
        assert auditor.execute("SELECT count(*) FROM audit_records").fetchone() == (len(before),)
        with pytest.raises(errors.InsufficientPrivilege):
            auditor.execute("INSERT INTO audit_checkpoints SELECT * FROM audit_checkpoints LIMIT 1")
        with pytest.raises(errors.InsufficientPrivilege):
            auditor.execute("SELECT * FROM grants")
