"""Running `persona-mcp` as an operator would: a fresh process, its exit status, stdout and stderr."""

from __future__ import annotations

import os
import pty
import select
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


def run_on_terminal(*args: str, env: dict[str, str], timeout: float = 120) -> Ran:
    """Run `persona-mcp` with its stderr on a pseudo-terminal, as an operator at a shell sees it (stdout
    stays a pipe). `stderr` is what the terminal received, escape sequences included."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "persona_mcp.cli", *args],
        env={"TERM": "xterm-256color", **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    received = bytearray()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                proc.kill()
                raise TimeoutError(f"persona-mcp {' '.join(args)} wrote nothing for {timeout}s")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            received.extend(chunk)
        assert proc.stdout is not None
        stdout = proc.stdout.read().decode()
        status = proc.wait(timeout=timeout)
    finally:
        os.close(master)
        if proc.stdout is not None:
            proc.stdout.close()
    return Ran(status, stdout, received.decode(errors="replace"))
