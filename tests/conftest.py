"""Shared test setup: import paths, and the tiny snapshots written and loaded once per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# The test helpers (tiny snapshots, golden fixtures, ComfyUI stand-ins) import by plain names.
SUPPORT = Path(__file__).resolve().parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))


import pytest  # noqa: E402
from tiny_snapshots import write_tiny_snapshots  # noqa: E402


def pytest_configure(config):
    """Under pytest-xdist (pytest.ini runs one worker per core) each worker computes on one
    thread, and so do the commands it starts: the tiny models gain nothing from threads, and
    workers x threads above the core count only spin."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)
        os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(scope="session", autouse=True)
def converted_tokenizer_cache(tmp_path_factory):
    """Tokenizers converted from spiece.model are cached here, never in the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("cache")
        patch.setenv("AUDIOGEN_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """The tiny snapshots of both checkpoints (official folder names and layout), written once."""
    return write_tiny_snapshots(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def pipe(tiny_model_dir):
    """The tiny snapshots loaded once as an fp32 CPU pipeline with every part, the audio encoder
    included. Shared by every test that asks for it: use it, never change it (``monkeypatch``
    on it is undone after each test)."""
    from audiogen_core.pipeline import AudioGenPipeline

    return AudioGenPipeline.from_model_dir(
        tiny_model_dir, device="cpu", dtype="fp32", include_audio_encoder=True
    )
