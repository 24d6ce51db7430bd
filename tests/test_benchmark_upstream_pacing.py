"""The upstream pacing benchmark runs and prints its four figures (no figure is asserted: they belong to
benchmarks/README.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "upstream_pacing.py"


@pytest.mark.slow
def test_the_upstream_pacing_benchmark_prints_rate_429s_longest_hint_and_recovery() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARK),
            *("--limit", "20", "--callers", "8", "--window-seconds", "2", "--duration", "3"),
            *("--retry-budget", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for figure in (
        "successful calls per minute",
        "upstream 429s",
        "longest wait hint",
        "first success after the burst",
    ):
        assert figure in done.stdout, done.stdout
    assert "limit 20 per 2 s window, 8 callers" in done.stdout
