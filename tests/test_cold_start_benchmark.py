"""`benchmarks/cold_start.py` stays runnable (its figures belong to benchmarks/README.md, not here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "cold_start.py"


@pytest.mark.slow
def test_the_cold_start_benchmark_times_both_servers_side_by_side_and_the_help() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--runs", "1", "--help-runs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "persona-mcp: initialize" in done.stdout and "bare server: initialize" in done.stdout
    assert "persona-mcp  median: spawn -> initialize" in done.stdout
    assert "bare server  median: spawn -> initialize" in done.stdout
    assert "ratio spawn -> initialize" in done.stdout and "target <= 1.3" in done.stdout
    assert "persona-mcp --help median" in done.stdout and "target < 0.5 s" in done.stdout
    assert "load average" in done.stdout
    listed = done.stdout.split("persona-mcp  median:")[1].split("\n")[0]
    assert "(0 tools)" not in listed, "the stdio server listed the grant's tools"
