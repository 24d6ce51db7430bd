"""Freezing the heap a started server holds: startup's objects leave the collector's walks, garbage does not
stay. Run in a child interpreter, since a frozen heap stays frozen for the life of the process."""

from __future__ import annotations

import subprocess
import sys
import textwrap


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
