"""Installing the pack must never move the torch, numpy or transformers of a ComfyUI install."""

from __future__ import annotations

import shutil
import subprocess
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


def test_the_registry_icon_is_a_url_to_a_file_of_this_repository():
    project = _pyproject()
    icon = project["tool"]["comfy"]["Icon"]
    repository = project["project"]["urls"]["Repository"]
    owner_name = repository.removeprefix("https://github.com/").strip("/")
    prefix = f"https://raw.githubusercontent.com/{owner_name}/main/"
    assert icon.startswith(prefix), f"Icon must be the raw URL of a file in {repository}"
    path = ROOT / icon.removeprefix(prefix)
    assert path.is_file(), f"{path.relative_to(ROOT)} (the registry icon) is missing"
    width, height = _png_size(path)
    assert width == height >= 64, "the registry shows the icon as a square"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_the_registry_version_is_semantic_and_in_the_changelog():
    version = _pyproject()["project"]["version"]
    assert len(Version(version).release) == 3, "the registry wants X.Y.Z"
    assert f"## {version}" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


# What ComfyUI loads from the pack: comfy-cli packs the git-tracked files (plus `includes`).
SHIPPED = ("__init__.py", "nodes", "audiogen_core", "web", "workflows", "requirements.txt")


def test_nothing_the_pack_ships_is_git_ignored_and_includes_name_real_folders():
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = subprocess.run(
        [git, "ls-files", "--others", "--ignored", "--exclude-standard", "--", *SHIPPED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    ignored = [f for f in files if "__pycache__" not in f and not f.endswith(".pyc")]
    includes = _pyproject()["tool"]["comfy"]["includes"]
    missing = [f for f in ignored if not any(f.startswith(i.rstrip("/") + "/") for i in includes)]
    assert not missing, f"git-ignored but needed at run time (add to includes): {missing}"
    for folder in includes:
        assert (ROOT / folder).is_dir(), f"includes names {folder}, which does not exist"
