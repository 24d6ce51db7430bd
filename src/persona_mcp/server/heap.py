"""Keeping the cyclic garbage collector off the objects that live as long as the process.

A started server holds a few hundred thousand objects that never die: tool declarations and their JSON
schemas, pydantic validators, SQLAlchemy metadata, the OpenAPI contract. Python's collector walks all of
them on every full collection, and the calls' short-lived objects trigger one every few hundred calls:
measured under load (benchmarks/throughput.py), those passes took ~100 ms each and about as much CPU per
call as the rest of the audit path. Freezing the heap once the server is ready moves what startup
built into the permanent generation, which the collector skips; objects made afterwards are collected as
before. This is done by the serving entry points only, never by `open_server` itself: a process that
opens many servers (the test suite) would otherwise pin each closed server's cycles forever.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect startup's garbage, then exempt everything still alive from later collections."""
    gc.collect()
    gc.freeze()
