"""Byte-compile the code under test before a start is timed, as installing it would.

`pip install` (the wheel, the container image) writes every module's bytecode at install time, so a
user's `persona-mcp serve` reads `.pyc` files. A source checkout installed with `pip install -e .`
compiles each module the first time it is imported and keeps the bytecode, unless the environment says
`PYTHONDONTWRITEBYTECODE=1`, as this project's CI machines do: then every start compiles all of
persona-mcp's ~160 modules again, 0.25-0.4 s of a 1.6 s HTTP start measured on a 2-core machine (issue
18), a cost no installed server pays. The bare servers the benchmarks compare against are mostly the
SDK, which pip compiled when it installed it.

`compileall` writes the bytecode whatever `PYTHONDONTWRITEBYTECODE` says, next to the sources
(`__pycache__/`, ignored by git), and later imports read it: the benchmarks then time the start of the
server as installed. Sources changed afterwards are recompiled on import, as Python checks each `.pyc`
against its source's modification time.
"""

from __future__ import annotations

import argparse
import compileall
from pathlib import Path


def compile_like_an_install(*packages: Path) -> None:
    """Write the bytecode of every module under `packages` (directories); quiet, and idempotent."""
    for package in packages:
        if not compileall.compile_dir(str(package), quiet=1):
            raise RuntimeError(f"byte-compiling {package} failed")


def persona_mcp_package(src: str | Path | None = None) -> Path:
    """The `persona_mcp` package a child process will import: the installed one, or the one in `src`."""
    if src is not None:
        return Path(src) / "persona_mcp"
    import persona_mcp

    return Path(persona_mcp.__file__).parent


def other_source(directory: str) -> Path:
    """`--also-src`: the directory holding another checkout's `persona_mcp` package, given it or the
    checkout's root (then its `src/`). Anything else is refused: a child process with such a directory on
    its `PYTHONPATH` imports the installed package instead, and the benchmark would compare this code with
    itself under two names."""
    given = Path(directory).resolve()
    for candidate in (given, given / "src"):
        if (candidate / "persona_mcp" / "__init__.py").is_file():
            return candidate
    raise argparse.ArgumentTypeError(f"no persona_mcp package in {given} or {given / 'src'}")


BENCHMARKS = Path(__file__).resolve().parent
"""The benchmarks' own helper modules, which the bare servers import."""
