"""Fixtures for the node tests: tiny snapshots, and the pack with or without a ComfyUI.

The nodes are V3 nodes (``comfy_api.latest``); CI has no ComfyUI, so the stand-in package in
standin_api/ is put on the import path (checked against ComfyUI's real signatures by
test_comfy_api_standin.py). ``standalone``: no ComfyUI services (the fallbacks of
nodes/comfy_compat.py), the models found through AUDIOGEN_MODEL_DIR. ``comfy``: the stand-in
ComfyUI of comfy_standins.py, with the tiny snapshots in models/audiogen/ as a user would put
the official ones.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch

STANDIN_API = Path(__file__).resolve().parents[1] / "support" / "standin_api"
sys.path.insert(0, str(STANDIN_API))

from comfy_api.latest import ui as comfy_ui  # noqa: E402
from comfy_standins import StandInFolderPaths, install  # noqa: E402

from audiogen_core.checkpoints import (  # noqa: E402
    load_audio_tokenizer,
    load_generator,
    load_text_encoder,
)
from nodes import comfy_compat, model_paths  # noqa: E402
from nodes.managed import ManagedModel  # noqa: E402


@pytest.fixture(autouse=True)
def preview_folder(monkeypatch, tmp_path):
    """ComfyUI's ui helpers always have its folders: a node's previews (Decode's takes, the
    Mixer's mix) land in the test's folder whichever fixtures the test uses."""
    monkeypatch.setattr(comfy_ui, "folder_paths", StandInFolderPaths(tmp_path / "ComfyUI"))


@pytest.fixture
def standalone(monkeypatch, tmp_path, tiny_model_dir):
    for name in ("folder_paths", "model_management", "model_patcher", "comfy_utils"):
        monkeypatch.setattr(comfy_compat, name, None)
    monkeypatch.setenv("AUDIOGEN_MODEL_DIR", str(tiny_model_dir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # ComfyUI's ui helpers always have its folders; previews land in the test's folder.
    monkeypatch.setattr(comfy_ui, "folder_paths", StandInFolderPaths(tmp_path / "ComfyUI"))
    return tiny_model_dir


@pytest.fixture
def comfy(monkeypatch, tmp_path, tiny_model_dir):
    """The stand-in ComfyUI: returns (folder_paths, comfy) after registering our model key."""
    base = tmp_path / "ComfyUI"
    shutil.copytree(tiny_model_dir, base / "models" / "audiogen")
    folder_paths, standin = install(monkeypatch, comfy_compat, base)
    monkeypatch.setattr(comfy_ui, "folder_paths", folder_paths)
    model_paths.register_model_folder()
    return folder_paths, standin


@pytest.fixture(scope="session")
def tiny_models(tiny_model_dir) -> dict[str, ManagedModel]:
    """The three tiny models loaded once on the CPU in fp32 (tokenizer with its encoder)."""
    loaders = {
        "model": (load_generator, "Dasheng-AudioGen"),
        "text_encoder": (load_text_encoder, "flan-t5-large"),
        "audio_tokenizer": (load_audio_tokenizer, "dashengtokenizer"),
    }
    return {
        role: ManagedModel(
            component=load(tiny_model_dir / name), folder=tiny_model_dir / name, dtype=torch.float32
        )
        for role, (load, name) in loaders.items()
    }
