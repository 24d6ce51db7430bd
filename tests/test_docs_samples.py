"""Code samples in the docs are run, so they cannot rot."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).parents[1] / "docs"

pytestmark = pytest.mark.anyio


def _python_blocks(name: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), flags=re.S)


async def test_the_extending_guide_sample_runs(tmp_path: Path) -> None:
    (block,) = _python_blocks("extending.md")
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs/extending.md", "exec"), namespace)
    samples = [value for key, value in namespace.items() if key.startswith("test_")]
    assert samples
    for sample in samples:
        await sample(tmp_path / sample.__name__)
