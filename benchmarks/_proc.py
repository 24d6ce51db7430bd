"""What the benchmarks read of a process from Linux's /proc: its resident memory and the CPU it has used.

CPU is read from the scheduler's statistics (`schedstat`), in nanoseconds: a short phase costs a process
less than the 10 ms clock tick `/proc/<pid>/stat` counts in. Off Linux every figure is NaN or None.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path


def rss_mib(pid: int | None) -> float | None:
    """The resident memory of `pid`, MiB; None if it cannot be read."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def scheduled_ns(entry: Path) -> int:
    """Nanoseconds the thread (`/proc/<pid>/task/<tid>`, or a process's main thread `/proc/<pid>`) has
    run so far; raises OSError if it has ended."""
    return int((entry / "schedstat").read_text().split()[0])


def threads_cpu_s(pid: int | None) -> float:
    """CPU seconds `pid`'s live threads have run so far; NaN if it cannot be read. A thread that ends
    during a phase takes its time with it: the servers and the sandbox keep theirs."""
    if pid is None:
        return math.nan
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that just ended
                total += scheduled_ns(task)
    except OSError:
        return math.nan
    return total / 1e9
