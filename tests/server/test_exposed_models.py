"""A server builds the pydantic models of the tools it exposes when it opens, and never the others.

Tool models defer their build (`ToolInput`, `ResultModel`): a family the server does not expose costs it
no validator or serializer (issue 18: memory), and the exposed ones, with every model nested in them,
are built by `open_server`, so no call pays for a build. Checked in a fresh interpreter, since this test
process has long since built every model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from persona_mcp.tools import CATALOGUE

PROBE = """
import anyio, json, sys
from pathlib import Path
from persona_mcp.pii import model_classes
from persona_mcp.server.app import open_server
from persona_mcp.server.exposure import ExposureOptions
from persona_mcp.testing import sandbox_settings
from persona_mcp.tools import CATALOGUE


def reachable(models):
    pending, seen = list(models), set()
    while pending:
        model = pending.pop()
        if model not in seen:
            seen.add(model)
            for field in model.model_fields.values():
                pending.extend(model_classes(field.annotation))
    return seen


async def main():
    settings = sandbox_settings(Path(sys.argv[1]))
    exposure = ExposureOptions(toolsets=frozenset({"accounts"}))
    async with open_server(settings, exposure=exposure, instance_id="models") as app:
        exposed = [spec.name for spec in app.pipeline.exposed]
        models = reachable(m for spec in app.pipeline.exposed for m in (spec.input_model, spec.output_model))
        unbuilt = sorted(model.__name__ for model in models if not model.__pydantic_complete__)
    built_inputs = sorted(spec.name for spec in CATALOGUE if spec.input_model.__pydantic_complete__)
    print(json.dumps({"exposed": exposed, "unbuilt": unbuilt, "built_inputs": built_inputs}))


anyio.run(main)
"""


def test_only_the_exposed_tools_models_are_built_and_all_of_them_when_the_server_opens(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    exposed = set(seen["exposed"])
    assert exposed and exposed < {spec.name for spec in CATALOGUE}
    assert seen["unbuilt"] == [], "every model an exposed tool validates or returns is built at start"
    # Unbuilt: the input model of every tool not exposed, unless an exposed tool takes the same model.
    exposed_inputs = {spec.input_model for spec in CATALOGUE if spec.name in exposed}
    built = set(seen["built_inputs"])
    assert [
        spec.name for spec in CATALOGUE if spec.name in built and spec.input_model not in exposed_inputs
    ] == []
    assert exposed <= built
