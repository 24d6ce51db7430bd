"""Keeping the cyclic garbage collector off the objects that live as long as the process.

A started server holds a few hundred thousand objects that never die: tool declarations and their JSON
schemas, pydantic validators, SQLAlchemy metadata, the OpenAPI contract. Python's collector walks all of
them on every full collection, and the calls' short-lived objects trigger one every few hundred calls:
measured under load (benchmarks/throughput.py), those passes took ~100 ms each and about as much CPU per
call as the rest of the audit path. Freezing the heap once the server is ready moves what startup
built into the permanent generation, which the collector skips; objects made afterwards are collected as
before. This is done by the serving entry points only, never by `open_server` itself: a process that
opens many servers (the test suite) would otherwise pin each closed server's cycles forever.

While startup builds that heap, the collector's passes are pure cost: every object they walk is still
alive, and the passes grow with the heap (measured: importing the server's modules took 1.97-2.06 s with
the collector on and 1.49-1.76 s with it off). `serve` therefore pauses it before importing anything heavy
and `freeze_startup_heap` resumes it, after collecting once, so the pause frees nothing later than a
collection at that point would.

That one collection is itself a full pass over the imported heap: 0.14-0.16 s for the ~170,000 objects
the modules leave, on the way to the first answer (issue 18's cold start). So the serving entry points
freeze in two steps: `freeze_imports` once the modules are imported, without collecting (imports leave
about 3,000 unreachable objects, a few hundred KB kept for the life of the process), and
`freeze_startup_heap` once the server is open, whose collection then walks only what opening the server
made (~50,000 objects, ~10 ms).
"""

from __future__ import annotations

import gc

_paused = False


def pause_collection() -> None:
    """Stop automatic collections until `freeze_startup_heap` (or `resume_collection`); a collector
    already switched off by someone else stays off afterwards."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_collection() -> None:
    """Undo `pause_collection` (a no-op if it did nothing): for a start that fails before the freeze."""
    global _paused
    if _paused:
        _paused = False
        gc.enable()


def freeze_imports() -> None:
    """Exempt everything alive now (the imported modules, with the little garbage importing left) from
    later collections, without a collection first: see the module docstring."""
    gc.freeze()


def freeze_startup_heap() -> None:
    """Collect startup's garbage, then exempt everything still alive from later collections, and let
    the collector run again if `pause_collection` stopped it."""
    gc.collect()
    gc.freeze()
    resume_collection()
