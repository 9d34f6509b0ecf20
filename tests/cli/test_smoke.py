"""One run of each subcommand as a user starts it (``python -m audiogen_core ...`` in a new
process); everything else about the command line is tested in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    environment.pop("AUDIOGEN_MODEL_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "audiogen_core", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        cwd=ROOT,
    )


def test_generate(tiny_model_dir, tmp_path):
    out = tmp_path / "scene.wav"
    result = run_cli(
        "generate", "--caption", "A dog barks in a park", "--sfx", "bark", "--out", str(out),
        "--duration", "1.3", "--steps", "2", "--seed", "0", "--model-dir", str(tiny_model_dir),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    info = soundfile.info(str(out))
    assert (info.samplerate, info.channels, info.frames) == (16000, 1, round(1.3 * 16000))
    assert info.subtype == "PCM_16"
    assert "<|caption|> A dog barks in a park <|sfx|> bark" in result.stderr
    assert f"wrote {out} (1.300 s, 16000 Hz, seed 0)" in result.stderr


def test_batch(tiny_model_dir, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"prompt": "<|caption|> rain", "duration": 0.5}) + "\n")
    out = tmp_path / "out"
    result = run_cli(
        "batch", str(jobs), "--out", str(out), "--steps", "1", "--device", "cpu",
        "--model-dir", str(tiny_model_dir),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "done 1, skipped 0 (already complete), failed 0, bad lines 0" in result.stderr
    assert soundfile.info(str(out / "line_00001.wav")).frames == 8000


def test_view(tmp_path):
    audio = tmp_path / "tone.wav"
    soundfile.write(str(audio), 0.3 * np.sin(np.arange(16000) / 5), 16000)
    out = tmp_path / "tone.png"
    result = run_cli("view", str(audio), "--out", str(out), "--width", "640", "--height", "360")
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (640, 360)


def test_download_without_a_network_is_a_clear_error(tmp_path):
    result = run_cli("download", "--model-dir", str(tmp_path / "models"), HF_HUB_OFFLINE="1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: Downloading mispeech/Dasheng-AudioGen")
