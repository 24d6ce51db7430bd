"""Every mistake an operator makes ends in one line naming the setting or file, a hint, exit status 2.

No traceback is printed unless `--debug` is given.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from tests.operations._cli import Ran, clean_env, run_cli

from persona_mcp.operator_error import ConfigError
from persona_mcp.store.engine import normalise_url


def _assert_operator_error(ran: Ran, *needles: str) -> str:
    assert ran.status == 2, (ran.status, ran.stderr)
    line = ran.one_line
    assert line.startswith("error: ")
    assert "(hint: " in line
    assert "Traceback" not in ran.stderr
    for needle in needles:
        assert needle in line, line
    return line


def test_an_unknown_database_url_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    env = clean_env(tmp_path, PERSONA_MCP_DATABASE_URL="mysql://root:hunter2@db/persona")
    line = _assert_operator_error(run_cli("db", "upgrade", env=env), "PERSONA_MCP_DATABASE_URL", "mysql")
    assert "hunter2" not in line


def test_an_unreachable_database_is_one_line_with_the_hint(tmp_path: Path) -> None:
    # `postgres://` is taken as PostgreSQL: the error is that nothing answers, not that the URL is unknown.
    env = clean_env(tmp_path, PERSONA_MCP_DATABASE_URL="postgres://postgres@127.0.0.1:1/test")
    _assert_operator_error(run_cli("db", "upgrade", env=env), "cannot open the database", "port 1")


def test_postgres_is_a_synonym_of_postgresql() -> None:
    assert normalise_url("postgres://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    with pytest.raises(ConfigError, match="unknown database `oracle`"):
        normalise_url("oracle://u@h/db")


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "persona-mcp.toml"
    config.write_text('data_dir = "/tmp/x"\nenvironment sandbox\n')
    env = clean_env(tmp_path, PERSONA_MCP_CONFIG=str(config))
    _assert_operator_error(run_cli("db", "upgrade", env=env), str(config), "line 2")


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    env = clean_env(tmp_path, PERSONA_MCP_CONFIG=str(missing))
    _assert_operator_error(run_cli("audit", "tail", env=env), "PERSONA_MCP_CONFIG", str(missing))


def test_an_unknown_key_in_the_config_file_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    config = tmp_path / "persona-mcp.toml"
    config.write_text('databse_url = "sqlite:///x.db"\n[http]\nmax_session = 3\n')
    env = clean_env(tmp_path, PERSONA_MCP_CONFIG=str(config))
    _assert_operator_error(run_cli("db", "upgrade", env=env), "databse_url", str(config), "database_url")


def test_an_unknown_key_in_a_config_section_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "persona-mcp.toml"
    config.write_text("[http]\nmax_session = 3\n")
    env = clean_env(tmp_path, PERSONA_MCP_CONFIG=str(config))
    _assert_operator_error(run_cli("db", "upgrade", env=env), "max_session", "[http]", "max_sessions")


def test_an_unknown_environment_variable_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    env = clean_env(tmp_path, PERSONA_MCP_DATABSE_URL="sqlite:///x.db")
    _assert_operator_error(
        run_cli("db", "upgrade", env=env), "PERSONA_MCP_DATABSE_URL", "PERSONA_MCP_DATABASE_URL"
    )


def test_a_value_of_the_wrong_type_names_the_variable(tmp_path: Path) -> None:
    env = clean_env(tmp_path, PERSONA_API_MAX_RETRIES="lots")
    _assert_operator_error(run_cli("db", "upgrade", env=env), "PERSONA_API_MAX_RETRIES", "whole number")


def test_a_value_of_the_wrong_type_in_the_file_names_the_key_and_file(tmp_path: Path) -> None:
    config = tmp_path / "persona-mcp.toml"
    config.write_text('[store]\nlock_timeout_seconds = "soon"\n')
    env = clean_env(tmp_path, PERSONA_MCP_CONFIG=str(config))
    _assert_operator_error(run_cli("db", "upgrade", env=env), "store.lock_timeout_seconds", str(config))


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        ran = run_cli("serve", "--transport", "http", "--port", str(port), env=clean_env(tmp_path))
    _assert_operator_error(ran, f"port {port}", "already in use", "--port")


@pytest.mark.parametrize("since", ["yesterday", "7 days", "2026-13-45"])
def test_a_bad_since_is_one_line(tmp_path: Path, since: str) -> None:
    ran = run_cli("audit", "query", "--since", since, env=clean_env(tmp_path))
    _assert_operator_error(ran, "--since", "7d")


@pytest.mark.parametrize("since", ["7d", "12h", "2026-01-31", "2026-01-31T08:00:00Z"])
def test_iso_and_relative_since_values_are_accepted(tmp_path: Path, since: str) -> None:
    ran = run_cli("audit", "query", "--since", since, "--json", env=clean_env(tmp_path))
    assert ran.status == 0, ran.stderr


@pytest.mark.parametrize(("option", "value"), [("--decision", "allow"), ("--outcome", "failed")])
def test_unknown_decision_and_outcome_values_are_one_line(tmp_path: Path, option: str, value: str) -> None:
    ran = run_cli("audit", "query", option, value, env=clean_env(tmp_path))
    _assert_operator_error(ran, option, value)


def test_a_network_error_in_credentials_test_is_one_line(tmp_path: Path) -> None:
    env = clean_env(
        tmp_path,
        PERSONA_API_BASE_URL="http://127.0.0.1:1/api/v1",
        PERSONA_API_KEY="persona_sandbox_0123456789abcdef",
        PERSONA_API_MAX_RETRIES="0",
    )
    line = _assert_operator_error(
        run_cli("credentials", "test", "sandbox", env=env), "cannot reach Persona", "127.0.0.1:1"
    )
    assert "0123456789abcdef" not in line


def test_debug_shows_the_traceback_and_only_then(tmp_path: Path) -> None:
    env = clean_env(tmp_path, PERSONA_MCP_DATABASE_URL="mysql://db/persona")
    quiet = run_cli("db", "upgrade", env=env)
    assert "Traceback" not in quiet.stderr
    loud = run_cli("--debug", "db", "upgrade", env=env)
    assert loud.status != 0
    assert "Traceback" in loud.stderr
    assert "ConfigError" in loud.stderr
