"""``view`` and ``generate --view`` in-process: pictures of the asked size, with the mode any new
file gets, every bad input one error line, and existing pictures left alone."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile
from PIL import Image

from audiogen_core.cli.main import main

SR = 16000


def tone(seconds: float, rate: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def test_view_writes_a_png_of_the_asked_size_with_the_umask_mode(tmp_path, capsys, umask_027):
    audio = tmp_path / "scene.wav"
    soundfile.write(str(audio), np.stack([tone(1.5, 44100)] * 2, axis=1), 44100)
    out = tmp_path / "scene.png"
    args = ["view", str(audio), "--out", str(out), "--width", "800", "--height", "450"]
    # --target and --ceiling are the old spellings of --target-lufs and --true-peak-dbtp.
    args += ["--marker", "0.5:1:door", "--marker", "1.2::", "--target", "-14", "--ceiling", "-1"]
    assert main(args) == 0
    assert f"wrote {out} (800x450)" in capsys.readouterr().err
    assert Image.open(out).size == (800, 450)
    assert out.stat().st_mode & 0o777 == 0o640  # not the 0600 of a private temporary file
    assert main(["view", str(audio), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert Image.open(out).size == (800, 450)  # left alone


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("text", "cannot read"),
        ("empty", "no audio samples"),
        ("nan", "NaN"),
        ("missing", "no such audio file"),
        ("no_folder", "does not exist"),
        ("marker", "START:END:LABEL"),
        ("panels", "panels must be"),
        ("size", "width must be between"),
    ],
)
def test_view_bad_input(tmp_path, capsys, setup, message):
    audio, out = tmp_path / "in.wav", tmp_path / "out.png"
    if setup == "text":
        audio.write_text("not audio")
    elif setup == "empty":
        soundfile.write(str(audio), np.zeros((0, 1)), SR)
    elif setup == "nan":
        soundfile.write(str(audio), np.array([0.1, np.nan, 0.2]), SR, subtype="FLOAT")
    elif setup != "missing":
        soundfile.write(str(audio), tone(0.5), SR)
    if setup == "no_folder":
        out = tmp_path / "nowhere" / "out.png"
    extra = {
        "marker": ["--marker", "soon"],
        "panels": ["--panels", "waveform,sonogram"],
        "size": ["--width", "50"],
    }.get(setup, [])
    assert main(["view", str(audio), "--out", str(out), *extra]) == 2
    error = capsys.readouterr().err
    assert message in error and error.startswith("error: ")
    assert not out.exists()


def test_generate_view_writes_the_picture_next_to_each_result(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "scene.wav"
    (tmp_path / "scene_01.png").write_bytes(b"keep")
    common = ["generate", "--caption", "rain", "--out", str(out), "--duration", "1.0"]
    common += ["--steps", "1", "--variations", "2", "--model-dir", str(tiny_model_dir), "--view"]
    # An existing picture is refused before any generation, like an existing WAV.
    assert main(common) == 2
    assert "scene_01.png already exists" in capsys.readouterr().err
    assert not (tmp_path / "scene_00.wav").exists()
    assert main([*common, "--overwrite"]) == 0
    err = capsys.readouterr().err
    for name in ("scene_00", "scene_01"):
        assert soundfile.info(str(tmp_path / f"{name}.wav")).frames == SR
        picture = tmp_path / f"{name}.png"
        assert Image.open(picture).size == (1280, 720)
        assert f"wrote {picture}\n" in err
        wav_mode = (tmp_path / f"{name}.wav").stat().st_mode & 0o777
        assert picture.stat().st_mode & 0o777 == wav_mode
