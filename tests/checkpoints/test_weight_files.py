"""Weight paths that must not be opened are refused at once (checkpoints/weight_files.py).

A named pipe waits for a writer when opened and a character device may never stop giving
bytes, so a load pointed at either would hang; each must fail at once, naming the path.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from audiogen_core.checkpoints import WeightsError, check_snapshot, load_generator
from audiogen_core.checkpoints.snapshots import GENERATOR

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (POSIX)")


def _fails_within(seconds: float, call) -> BaseException:
    """Run ``call`` in a daemon thread; the error it raised, or a test failure if it hangs."""
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s: the path was opened"
    assert outcome, "no error raised"
    return outcome[0]


@pytest.fixture
def gen_dir(tiny_model_dir, tmp_path) -> Path:
    return shutil.copytree(tiny_model_dir / "Dasheng-AudioGen", tmp_path / "Dasheng-AudioGen")


def test_a_named_pipe_as_weights_is_refused_at_once(gen_dir):
    weights = gen_dir / "model.safetensors"
    weights.unlink()
    os.mkfifo(weights)
    error = _fails_within(5, lambda: load_generator(gen_dir))
    assert isinstance(error, WeightsError)
    assert f"{weights} is a named pipe (FIFO), not a regular file" in str(error)
    error = _fails_within(5, lambda: check_snapshot(gen_dir, GENERATOR))
    assert "named pipe" in str(error)


def test_a_named_pipe_as_a_listed_shard_is_refused_at_once(gen_dir):
    (gen_dir / "model.safetensors").rename(gen_dir / "part-1.safetensors")
    os.mkfifo(gen_dir / "part-2.safetensors")
    index = '{"weight_map": {"a": "part-1.safetensors", "b": "part-2.safetensors"}}'
    (gen_dir / "model.safetensors.index.json").write_text(index)
    error = _fails_within(5, lambda: load_generator(gen_dir))
    assert f"{gen_dir / 'part-2.safetensors'} is a named pipe (FIFO)" in str(error)


def test_a_named_pipe_as_config_is_refused_at_once(gen_dir):
    (gen_dir / "config.json").unlink()
    os.mkfifo(gen_dir / "config.json")
    error = _fails_within(5, lambda: load_generator(gen_dir))
    assert isinstance(error, WeightsError)
    assert f"{gen_dir / 'config.json'} is a named pipe (FIFO)" in str(error)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_link_to_a_character_device_is_refused(gen_dir):
    weights = gen_dir / "model.safetensors"
    weights.unlink()
    weights.symlink_to("/dev/zero")
    error = _fails_within(5, lambda: load_generator(gen_dir))
    assert f"{weights} is a character device, not a regular file" in str(error)
