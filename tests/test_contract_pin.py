"""The pinned copy of Persona's API pack is exactly what its checksum list says."""

import hashlib
from pathlib import Path

import persona_mcp

CONTRACT = Path(persona_mcp.__file__).parent / "contract"
NOT_CHECKSUMMED = {"CHECKSUMS.sha256", "SOURCE.md"}


def _listed() -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in (CONTRACT / "CHECKSUMS.sha256").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        entries[name.removeprefix("./")] = digest
    return entries


def test_every_pinned_file_matches_its_checksum() -> None:
    for name, digest in _listed().items():
        actual = hashlib.sha256((CONTRACT / name).read_bytes()).hexdigest()
        assert actual == digest, f"{name} changed since it was pinned"


def test_no_file_is_pinned_without_a_checksum() -> None:
    present = {
        str(path.relative_to(CONTRACT))
        for path in CONTRACT.rglob("*")
        if path.is_file() and path.name not in NOT_CHECKSUMMED and "__pycache__" not in path.parts
    }
    assert present == set(_listed())


def test_the_pin_holds_the_catalogue_examples_and_licensed_openapi_document() -> None:
    listed = set(_listed())
    assert "catalog.yaml" in listed
    assert "openapi/persona-openapi-2025-12-08.yaml" in listed
    assert "openapi/LICENSE" in listed
    assert "Apache License" in (CONTRACT / "openapi" / "LICENSE").read_text()
    assert sum(1 for name in listed if name.startswith("examples/") and "webhook-events" not in name) == 93
