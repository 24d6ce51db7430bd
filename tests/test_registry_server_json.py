"""`server.json` (the MCP registry entry) is valid and says what the package and the container say.

The registry verifies a PyPI package by the `mcp-name:` line of its README and an OCI image by its
`io.modelcontextprotocol.server.name` label, so the name must agree in all three; the version and the
description must be the package's own.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema

import persona_mcp

ROOT = Path(__file__).parents[1]
SCHEMA = ROOT / "tests" / "registry" / "server.schema.json"


def _server_json() -> dict[str, Any]:
    data = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _project() -> dict[str, Any]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert isinstance(project, dict)
    return project


def _packages(kind: str) -> list[dict[str, Any]]:
    return [package for package in _server_json()["packages"] if package["registryType"] == kind]


def test_server_json_is_valid_against_the_registrys_published_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_server_json())
    ]
    assert errors == []
    assert _server_json()["$schema"] == schema["$id"], (
        "server.json names the schema revision it is checked against"
    )


def test_the_vendored_schema_is_the_copy_its_source_note_describes() -> None:
    note = (ROOT / "tests" / "registry" / "SOURCE.md").read_text(encoding="utf-8")
    recorded = re.search(r"SHA-256 of the copy: `([0-9a-f]{64})`", note)
    assert recorded, "SOURCE.md records the checksum of the vendored schema"
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == recorded.group(1)


def test_the_registry_name_is_the_dockerfile_label_and_the_readme_mcp_name() -> None:
    name = _server_json()["name"]
    label = re.search(
        r'^LABEL io\.modelcontextprotocol\.server\.name="([^"]+)"', (ROOT / "Dockerfile").read_text(), re.M
    )
    assert label and label.group(1) == name
    assert f"mcp-name: {name}" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_version_and_description_are_the_packages_own() -> None:
    entry, project = _server_json(), _project()
    assert entry["version"] == project["version"] == persona_mcp.__version__
    assert entry["description"] == project["description"]
    [pypi] = _packages("pypi")
    assert pypi["identifier"] == project["name"] and pypi["version"] == project["version"]
    assert [argument["value"] for argument in pypi["packageArguments"]] == ["serve"]
    [oci] = _packages("oci")
    assert oci["identifier"].endswith(f"/{project['name']}:{project['version']}")


def test_every_environment_variable_named_is_one_the_server_reads() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for package in _server_json()["packages"]:
        for variable in package.get("environmentVariables", []):
            assert f"`{variable['name']}`" in documented, variable["name"]
