"""The Dockerfile, server.json and pyproject say the same things: name, version, source, port, license;
the container checks its own health and its base image is pinned by digest; the package metadata is
complete and the MCP SDK is bounded to its major version."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project


def _server_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
    return data


def _labels() -> dict[str, str]:
    return dict(re.findall(r'(org\.opencontainers\.image\.[a-z]+)="([^"]*)"', DOCKERFILE))


def _arg(name: str) -> str:
    found = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.M)
    assert found, f"ARG {name} with a default"
    return found.group(1)


def test_the_base_image_is_pinned_by_digest_in_every_stage() -> None:
    base = _arg("BASE")
    assert re.fullmatch(r"python:3\.\d+-slim@sha256:[0-9a-f]{64}", base), base
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert len(stages) >= 2 and all(stage == "${BASE}" for stage in stages), stages
    python = re.search(r"python:(\d+\.\d+)", base).group(1)  # type: ignore[union-attr]
    assert SpecifierSet(_project()["requires-python"]).contains(python), "the image runs a supported Python"


def test_oci_labels_carry_version_source_revision_and_agree_with_pyproject_and_server_json() -> None:
    labels, project, entry = _labels(), _project(), _server_json()
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert labels["org.opencontainers.image.revision"] == "${REVISION}"
    assert _arg("VERSION") == project["version"] == entry["version"]
    source = labels["org.opencontainers.image.source"]
    assert source == project["urls"]["Source"] == entry["repository"]["url"]
    assert labels["org.opencontainers.image.licenses"] == project["license"]
    assert labels["org.opencontainers.image.title"] == project["name"]


def test_the_healthcheck_probes_healthz_on_the_port_the_image_serves_and_server_json_names() -> None:
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (\[[^\n]*\])$", DOCKERFILE, re.M | re.S)
    assert healthcheck, "a HEALTHCHECK"
    probe = " ".join(json.loads(healthcheck.group(1)))
    exposed = re.search(r"^EXPOSE (\d+)$", DOCKERFILE, re.M)
    assert exposed
    port = exposed.group(1)
    assert f"http://127.0.0.1:{port}/healthz" in probe
    command = json.loads(re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M).group(1))  # type: ignore[union-attr]
    assert command[command.index("--port") + 1] == port
    [oci] = [package for package in _server_json()["packages"] if package["registryType"] == "oci"]
    assert urlsplit(oci["transport"]["url"]).port == int(port)


def test_pyproject_has_classifiers_urls_keywords_and_bounds_the_mcp_major_version() -> None:
    project = _project()
    assert {"Homepage", "Source", "Issues", "Documentation"} <= project["urls"].keys()
    assert "mcp" in project["keywords"] and len(project["keywords"]) >= 5
    classifiers = project["classifiers"]
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert "Typing :: Typed" in classifiers
    supported = [
        c.rsplit(" ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert supported and all(SpecifierSet(project["requires-python"]).contains(v) for v in supported)
    [mcp] = [Requirement(d) for d in project["dependencies"] if Requirement(d).name == "mcp"]
    current_major = 2
    assert mcp.specifier.contains(f"{current_major}.99") and not mcp.specifier.contains(
        f"{current_major + 1}.0"
    )
    names = {Requirement(d).name for d in project["dependencies"]}
    assert {"prometheus-client", "opentelemetry-api", "opentelemetry-sdk"} <= names
    assert "otlp" in project["optional-dependencies"]


def test_docs_docker_covers_volume_secret_key_postgres_and_the_image_name() -> None:
    doc = (ROOT / "docs" / "docker.md").read_text(encoding="utf-8")
    [oci] = [package for package in _server_json()["packages"] if package["registryType"] == "oci"]
    image = oci["identifier"].rsplit(":", 1)[0]
    for needle in (
        image,
        "-v ",
        ":/data",
        "PERSONA_MCP_SECRET_KEY",
        "PERSONA_MCP_DATABASE_URL",
        "postgresql://",
    ):
        assert needle in doc, needle
