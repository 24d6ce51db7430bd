"""How the CLI prints tables: a Rich table on a terminal, plain tab-separated lines when piped.

Piped output is read by scripts and `grep`: a token, a scope list or a call id must come out whole on one
line, never folded into a box at 80 columns. Either way a value is shown as it is: never read as Rich
markup, and control characters made visible (a caller-chosen tool name must not drive the terminal).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

#: C0 and C1 control characters and DEL: a terminal would act on them (colours, titles, hyperlinks).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def visible(value: str) -> str:
    """`value` with control characters (tabs and newlines included) written as escapes."""
    return _CONTROL.sub(lambda found: found.group().encode("unicode_escape").decode(), value)


def is_terminal() -> bool:
    return sys.stdout.isatty()


def print_rows(columns: Sequence[str], rows: Iterable[Sequence[str]], *, title: str | None = None) -> None:
    """A table on a terminal; on a pipe, a header line and one tab-separated line per row."""
    if not is_terminal():
        sys.stdout.write("\t".join(columns) + "\n")
        for row in rows:
            sys.stdout.write("\t".join(visible(cell) for cell in row) + "\n")
        sys.stdout.flush()
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(visible(cell)) for cell in row))
    Console().print(table)


def print_fields(fields: Iterable[tuple[str, str]], *, title: str | None = None) -> None:
    """One record as `field: value` lines (plain on a pipe, a two-column table on a terminal)."""
    pairs = list(fields)
    if not is_terminal():
        for key, value in pairs:
            sys.stdout.write(f"{key}: {visible(value)}\n")
        sys.stdout.flush()
        return
    table = Table(title=title, show_header=False)
    table.add_column("field", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in pairs:
        table.add_row(key, Text(visible(value)))
    Console().print(table)
