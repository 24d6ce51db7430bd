"""The project installs, ships its console script and container the way README and CI say."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_console_script_is_persona_mcp() -> None:
    scripts = _pyproject()["project"]["scripts"]  # type: ignore[index]
    assert scripts == {"persona-mcp": "persona_mcp.cli:main"}


def test_the_dockerfile_runs_the_real_entry_point_as_a_non_root_user_with_a_data_volume() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["persona-mcp"]' in dockerfile
    assert len(re.findall(r"^FROM ", dockerfile, flags=re.M)) >= 2, "multi-stage build"
    assert re.search(r"^USER (?!root)\w+", dockerfile, flags=re.M)
    assert 'VOLUME ["/data"]' in dockerfile
    scripts = _pyproject()["project"]["scripts"]  # type: ignore[index]
    assert "persona-mcp" in scripts


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme.count("<!-- demo-command -->") == 1
    assert readme.count("<!-- test-command -->") == 1
    test_command = readme.split("<!-- test-command -->")[1].split("```bash\n")[1].split("\n")[0]
    assert "pytest" in test_command
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci, ".ci/run must read README's test command, not a copy of it"
    demo_command = readme.split("<!-- demo-command -->")[1].split("```bash\n")[1].split("\n")[0]
    assert demo_command.endswith("persona-mcp demo")


def test_the_cli_registers_every_command_group() -> None:
    from typer.testing import CliRunner

    from persona_mcp.cli import app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("serve", "sandbox", "demo", "tools", "grants", "credentials", "audit", "db"):
        assert group in result.output
