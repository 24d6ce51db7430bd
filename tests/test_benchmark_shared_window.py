"""`benchmarks/shared_window.py` stays runnable on the real PostgreSQL (its figures belong to
benchmarks/README.md, not here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "shared_window.py"


@pytest.mark.postgres
def test_the_shared_window_benchmark_prints_each_phase_and_its_main_ratio(postgres_url: str) -> None:
    done = subprocess.run(
        [
            *(sys.executable, str(BENCHMARK), "--postgres", postgres_url),
            *("--callers", "1", "4", "--permits", "16", "--runs", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert sum("us/permit" in line for line in lines) == 4
    assert lines[-1].startswith("main ratio (loop CPU per permit at one caller, taken ahead / not): ")
