"""SQLAlchemy's asyncio engine, imported without the ORM session classes its package also exports.

The store uses SQLAlchemy Core alone: `AsyncEngine`, `AsyncConnection`, `create_async_engine`. Importing
`sqlalchemy.ext.asyncio` runs the package's `__init__`, which also imports `AsyncSession` and with it
the whole ORM (`sqlalchemy.orm`, 38 modules): 71-103 ms of every server start and CLI command on a
2-core VM, on top of everything else a server imports, and 6 MiB (issue 18, point 4), for classes
nothing here uses.

So the package is entered without its `__init__`: its module object is made from its spec and put in
`sys.modules`, and the engine is imported from its own module, `sqlalchemy.ext.asyncio.engine`, which
needs nothing from the ORM. The package's `__init__` runs, once, the first time anything asks the
package for a name it does not hold yet (`from sqlalchemy.ext.asyncio import AsyncSession` in a test or
a migration script): every other importer sees the whole package, as SQLAlchemy wrote it. If the package
was imported before this module, nothing is changed.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType

_PACKAGE = "sqlalchemy.ext.asyncio"


def _enter_without_init() -> None:
    if _PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.loader is None:  # pragma: no cover - SQLAlchemy always ships it
        raise ImportError(f"{_PACKAGE} is not installed")
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader
    initialised = threading.Lock()

    def __getattr__(name: str) -> object:  # PEP 562: only names the package does not hold yet
        if importlib.util.find_spec(f"{_PACKAGE}.{name}") is not None:
            raise AttributeError(name)  # a submodule: the import system imports it
        with initialised:
            if package.__dict__.pop("__getattr__", None) is not None:
                loader.exec_module(package)
        try:
            return package.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {_PACKAGE!r} has no attribute {name!r}") from None

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[_PACKAGE] = package
    parent: ModuleType = importlib.import_module("sqlalchemy.ext")
    parent.asyncio = package  # type: ignore[attr-defined]


_enter_without_init()

from sqlalchemy.ext.asyncio.engine import (  # noqa: E402  (after the package is entered)
    AsyncConnection,
    AsyncEngine,
    create_async_engine,
)

__all__ = ["AsyncConnection", "AsyncEngine", "create_async_engine"]
