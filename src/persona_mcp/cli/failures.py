"""Turning an exception that escaped a command into the one line an operator reads.

A mistake the operator can fix (`OperatorError`, a database that cannot be reached, a port in use) is
printed with its fix and exit status 2; anything else is printed as one line naming its type, exit
status 1, with the advice to rerun with `--debug` for the traceback. Exception types of libraries are
only looked at when that library is loaded already, so this module imports none of them.
"""

from __future__ import annotations

import errno
import sys

from persona_mcp.operator_error import EXIT_OPERATOR_ERROR, OperatorError

#: Exit status of a failure that is not an operator's mistake.
EXIT_FAILURE = 1


def report(exc: BaseException) -> int:
    """Print `exc` as one line on stderr and return the exit status."""
    problem = explain(exc)
    if problem is not None:
        print(problem.line(), file=sys.stderr)
        return EXIT_OPERATOR_ERROR
    leaf = _first_leaf(exc)
    print(
        f"error: unexpected {type(leaf).__name__} (hint: run again with `persona-mcp --debug ...` for the "
        "traceback, and report it if it is not a configuration problem)",
        file=sys.stderr,
    )
    return EXIT_FAILURE


def explain(exc: BaseException) -> OperatorError | None:
    """The operator's mistake behind `exc` (looked for inside exception groups too), or None."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = explain(inner)
            if found is not None:
                return found
        return None
    if isinstance(exc, OperatorError):
        return exc
    database = _database_problem(exc)
    if database is not None:
        return database
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return OperatorError(
            "the address is already in use", "stop the other server or pass another --port / --host"
        )
    return None


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


_CONNECT_WORDS = ("connect", "unable to open database", "could not translate host", "no such host")


def _database_problem(exc: BaseException) -> OperatorError | None:
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is None or not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return None
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = detail[0] if detail else type(exc).__name__
    if not any(word in first.lower() for word in _CONNECT_WORDS):
        return None
    return OperatorError(
        f"cannot open the database (PERSONA_MCP_DATABASE_URL): {first[:300]}",
        "check that the database server is running and reachable, and the URL "
        "(postgresql://user@host:5432/dbname, or sqlite:////absolute/path.sqlite3)",
    )
