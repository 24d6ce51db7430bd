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


def freeze_startup_heap() -> None:
    """Collect startup's garbage, then exempt everything still alive from later collections, and let
    the collector run again if `pause_collection` stopped it."""
    gc.collect()
    gc.freeze()
    resume_collection()
