"""The latency benchmark runs (no timing is asserted here: figures belong to benchmarks/README.md)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from persona_mcp.audit import AuditLog

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "latency_ratio.py"


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("latency_ratio", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while they are made
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_latency_benchmark_measures_every_mode_side_by_side_with_the_bare_server() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--calls", "3", "--warmup", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for mode in ("durable", "nosync", "unaudited"):
        assert f"mode={mode} store=sqlite" in done.stdout
    assert done.stdout.count("bare server  median") == 3
    assert "target <= 1.35" in done.stdout and "target <= 1.25" in done.stdout


def test_only_the_unaudited_mode_replaces_the_append_and_only_while_it_measures() -> None:
    benchmark = _load_benchmark()
    shipped = AuditLog.append
    for mode in ("durable", "nosync"):
        with benchmark._appends_skipped(mode):
            assert AuditLog.append is shipped
    with benchmark._appends_skipped("unaudited"):
        assert AuditLog.append is not shipped
    assert AuditLog.append is shipped
    with pytest.raises(RuntimeError), benchmark._appends_skipped("unaudited"):
        raise RuntimeError("a failed measurement")
    assert AuditLog.append is shipped, "restored even when the measurement fails"
