"""Installing the pack must never move the torch, numpy or transformers of a ComfyUI install."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = Path(__file__).resolve().parents[1]
# What ComfyUI itself pins or ships; we may only ask for versions it has long had.
COMFYUI_OWNED = {
    "torch": "2.1",
    "numpy": "1.24",
    "transformers": "4.30",
    "tokenizers": "0.15",
    "safetensors": "0.4",
    "scipy": "1.9",
}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements_txt() -> list[Requirement]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def test_requirements_txt_and_pyproject_list_the_same_runtime_dependencies():
    from_pyproject = {str(Requirement(r)) for r in _pyproject()["project"]["dependencies"]}
    assert {str(r) for r in _requirements_txt()} == from_pyproject


def test_runtime_dependencies_are_lower_bounds_only_and_never_transformers():
    for requirement in _requirements_txt():
        assert requirement.name != "transformers", "transformers is a test-only dependency"
        operators = {spec.operator for spec in requirement.specifier}
        assert operators <= {">="}, f"{requirement}: only lower bounds, never pins or caps"
        oldest_allowed = COMFYUI_OWNED.get(requirement.name)
        if oldest_allowed:
            (spec,) = requirement.specifier
            assert Version(spec.version) <= Version(oldest_allowed), (
                f"{requirement} would force an upgrade on older ComfyUI installs"
            )


def test_comfy_registry_block():
    comfy = _pyproject()["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"]
    # The oldest ComfyUI with the V3 schema the nodes are written against; README says the same.
    assert comfy["requires-comfyui"] == ">=0.3.64"
    assert "ComfyUI 0.3.64 or newer" in (ROOT / "README.md").read_text(encoding="utf-8")
