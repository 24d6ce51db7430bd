"""The webhook benchmark runs end to end (its figures belong to benchmarks/README.md, never to a test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "webhook_receipts.py"


@pytest.mark.slow
@pytest.mark.postgres
def test_the_webhook_benchmark_measures_both_stores_and_both_replicas(postgres_url: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARK),
            "--deliveries",
            "20",
            "--senders",
            "4",
            "--latency",
            "3",
            "--postgres",
            postgres_url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for store in ("sqlite", "postgresql"):
        assert f"{store:<10} deliveries=20 senders=4" in done.stdout
        assert "(failures 0, stored 20)" in done.stdout
    assert "other replica" in done.stdout and done.stdout.count("receiving replica") == 2
