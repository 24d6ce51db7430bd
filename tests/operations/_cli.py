"""Running `persona-mcp` as an operator would: a fresh process, its exit status, stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Ran:
    status: int
    stdout: str
    stderr: str

    @property
    def one_line(self) -> str:
        """stderr's one human-readable line (`serve` also writes its JSON log lines there)."""
        lines = [line for line in self.stderr.strip().splitlines() if not line.startswith('{"')]
        assert len(lines) == 1, self.stderr
        return lines[0]


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERSONA_MCP_", "PERSONA_API_"))}
    env.update({"PERSONA_MCP_DATA_DIR": str(data_dir), "COLUMNS": "200", **extra})
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 120) -> Ran:
    done = subprocess.run(
        [sys.executable, "-m", "persona_mcp.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)
