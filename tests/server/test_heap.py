"""Freezing the heap a started server holds: startup's objects leave the collector's walks, garbage does not
stay. Run in a child interpreter, since a frozen heap stays frozen for the life of the process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def test_freezing_the_startup_heap_keeps_live_objects_out_of_collections_and_frees_startup_garbage() -> None:
    script = textwrap.dedent(
        """
        import gc, weakref
        from persona_mcp.server.heap import freeze_startup_heap

        class Node:
            pass

        def cycle():
            a, b = Node(), Node()
            a.other, b.other = b, a
            return a

        kept = [cycle() for _ in range(1000)]
        garbage = cycle()
        gone = weakref.ref(garbage)
        del garbage
        gc.disable()  # no collection may happen on its own before the freeze
        freeze_startup_heap()
        assert gone() is None, "startup's cyclic garbage was frozen instead of freed"
        assert gc.get_freeze_count() >= 2000, gc.get_freeze_count()
        # What is made after the freeze is collected as before.
        later = weakref.ref(cycle())
        gc.collect()
        assert later() is None
        print("ok", len(kept))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok 1000"


def test_serve_pauses_the_collector_while_the_server_starts_and_the_freeze_resumes_it(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import gc, sys
        import persona_mcp.server.stdio as stdio
        from persona_mcp.server.heap import freeze_startup_heap

        seen = []

        async def starting(settings, exposure):  # stands in for the stdio server up to its freeze
            seen.append(gc.isenabled())
            freeze_startup_heap()
            seen.append(gc.isenabled())

        stdio.run_stdio = starting
        from persona_mcp.cli import main

        sys.argv = ["persona-mcp", "serve", "--log-level", "WARNING"]
        try:
            main()
        except SystemExit as exit:
            assert not exit.code, exit.code
        print(seen, gc.isenabled())
        """
    )
    env = {**os.environ, "PERSONA_MCP_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[False, True] True"


def test_a_failed_start_resumes_collections_and_a_collector_switched_off_by_others_stays_off() -> None:
    script = textwrap.dedent(
        """
        import gc
        from persona_mcp.server.heap import freeze_startup_heap, pause_collection, resume_collection

        pause_collection()
        assert not gc.isenabled()
        resume_collection()  # the start failed: no freeze
        assert gc.isenabled()

        gc.disable()  # switched off by the embedding program, not by the pause
        pause_collection()
        freeze_startup_heap()
        assert not gc.isenabled(), "the freeze turned on a collector it had not paused"
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_both_transports_freeze_the_imported_modules_before_the_server_opens(tmp_path: Path) -> None:
    """So the one collection at the end of startup walks only what opening the server made, not the
    ~170,000 objects the imports left (0.14-0.16 s on the way to the first answer, issue 18)."""
    script = textwrap.dedent(
        """
        import gc, sys
        from pathlib import Path
        import anyio
        import persona_mcp.server.app as app_module
        import persona_mcp.server.run as run
        import persona_mcp.server.stdio as stdio
        from persona_mcp.testing import sandbox_settings

        frozen_at_open = []

        class Opened(Exception):
            pass

        def opening(*args, **kwargs):
            frozen_at_open.append(gc.get_freeze_count())
            raise Opened

        run.open_core = opening  # over HTTP the core opens first, the catalogue after it
        app_module.open_server = opening
        settings = sandbox_settings(Path(sys.argv[1]))

        async def over_http():
            try:
                await run.run_http(settings, {}, host="127.0.0.1", port=0)
            except Opened:
                pass

        anyio.run(over_http)
        gc.unfreeze()
        slot = stdio.StackSlot()

        async def over_stdio():
            await stdio._hold_stack(settings, {}, slot, anyio.Event(), anyio.CancelScope())

        anyio.run(over_stdio)
        assert isinstance(slot.error, Opened), slot.error
        print(frozen_at_open)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    http, stdio = eval(done.stdout.strip().splitlines()[-1])
    assert http > 50_000, f"only {http} objects were frozen when the HTTP server opened"
    assert stdio > 50_000, f"only {stdio} objects were frozen when the stdio server opened"
