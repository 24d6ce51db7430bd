"""`persona-mcp docs generate [--check]`: the one way every generated file is written and checked."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from persona_mcp.cli import app as root_app
from persona_mcp.cli.docs import ACCESS_MD, CONFIGURATION_MD, TOOLS_MD, app, stale_files
from persona_mcp.tools.snapshots import SNAPSHOT_DIR

ROOT = Path(__file__).parents[1]


def _checkout(tmp_path: Path) -> Path:
    """The generated files and their hand-written surroundings, copied from this checkout."""
    root = tmp_path / "checkout"
    for path in ("pyproject.toml", TOOLS_MD, ACCESS_MD, CONFIGURATION_MD):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, root / path)
    shutil.copytree(ROOT / SNAPSHOT_DIR, root / SNAPSHOT_DIR)
    return root


def test_this_checkout_is_current() -> None:
    assert stale_files(ROOT) == [], "run `persona-mcp docs generate` and review the diff"


def test_check_names_every_stale_file_writes_nothing_and_generate_repairs_them(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["generate", "--check", "--root", str(root)]).exit_code == 0

    (root / TOOLS_MD).write_text("# Tools\n\nedited by hand\n", encoding="utf-8")
    access = (root / ACCESS_MD).read_text(encoding="utf-8")
    (root / ACCESS_MD).write_text(access.replace("`accounts:read` |", "`accounts:read` | stale |", 1))
    (root / SNAPSHOT_DIR / "get_account.json").unlink()
    (root / SNAPSHOT_DIR / "renamed_tool.json").write_text("{}\n", encoding="utf-8")
    before = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}

    checked = runner.invoke(app, ["generate", "--check", "--root", str(root)])
    assert checked.exit_code == 1
    for stale in (
        TOOLS_MD,
        ACCESS_MD,
        f"{SNAPSHOT_DIR}/get_account.json",
        f"{SNAPSHOT_DIR}/renamed_tool.json",
    ):
        assert f"stale: {stale}" in checked.output
    assert {path: path.read_bytes() for path in root.rglob("*") if path.is_file()} == before

    written = runner.invoke(app, ["generate", "--root", str(root)])
    assert written.exit_code == 0, written.output
    assert not (root / SNAPSHOT_DIR / "renamed_tool.json").exists()
    assert (root / TOOLS_MD).read_text(encoding="utf-8") == (ROOT / TOOLS_MD).read_text(encoding="utf-8")
    assert runner.invoke(app, ["generate", "--check", "--root", str(root)]).exit_code == 0


def test_a_directory_that_is_not_a_checkout_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--check", "--root", str(tmp_path)])
    assert result.exit_code == 2 and "not a persona-mcp checkout" in result.output


def test_the_old_regeneration_paths_are_gone() -> None:
    assert CliRunner().invoke(root_app, ["tools", "--write-docs", "x.md"]).exit_code != 0
    old = (
        "UPDATE_TOOLSNAPS",
        "PERSONA_MCP_UPDATE_DOCS",
        "--write-docs",
        "python -m persona_mcp.tools.scope_docs",
    )
    texts = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "src").rglob("*.py")]
    texts += [path for path in (ROOT / "tests").rglob("*.py") if path.name != Path(__file__).name]
    mentions = [
        str(path.relative_to(ROOT)) for path in texts if any(o in path.read_text("utf-8") for o in old)
    ]
    assert mentions == []
