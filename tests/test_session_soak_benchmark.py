"""The session soak benchmark runs (its figures belong to benchmarks/README.md, not to assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "session_soak.py"


@pytest.mark.slow
def test_the_session_soak_runs_and_the_probing_grant_is_always_served() -> None:
    args = ["--seconds", "15", "--sample", "5", "--flood", "2", "--slowloris", "5"]
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), *args], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "after warm-up: first" in done.stdout
    assert "probe ok:" in done.stdout and "probe failures: 0 []" in done.stdout
    assert "flood 429:" in done.stdout, "the 1/min grant's flood is refused"
