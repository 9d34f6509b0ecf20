"""``python -m audiogen_core convert --to gguf`` and generating from the folder it writes."""

from __future__ import annotations

import shutil

import pytest
import soundfile
from t5_test_tokenizer import train_mt5_spiece

from audiogen_core.cli.main import main


@pytest.fixture
def snapshots(tiny_model_dir, tmp_path):
    """The English tiny snapshots, flan-t5 with the spiece.model google/flan-t5-large has."""
    root = tmp_path / "models"
    for name in ("Dasheng-AudioGen", "flan-t5-large", "dashengtokenizer"):
        shutil.copytree(tiny_model_dir / name, root / name)
    (root / "flan-t5-large" / "spiece.model").write_bytes(train_mt5_spiece())
    return root


def test_convert_then_generate_from_the_gguf_folder(snapshots, tmp_path, capsys):
    out = tmp_path / "gguf"
    argv = ["convert", "--to", "gguf", "--quant", "q8_0", "--model-dir", str(snapshots)]
    assert main([*argv, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "convert: 100%" in err  # the progress bar ran to the end
    assert sorted(p.name for p in out.iterdir()) == [
        "dit_Q8_0.gguf",
        "spiece.model",
        "t5_encoder.gguf",
        "tokenizer.json",
        "vocoder.gguf",
    ]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main([*argv, "--out", str(out)]) == 2
    assert "already holds" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    wav = tmp_path / "scene.wav"
    argv = ["generate", "--caption", "A dog barks", "--model-dir", str(out), "--steps", "2"]
    assert main([*argv, "--duration", "0.4", "--out", str(wav), "--device", "cpu"]) == 0
    samples, rate = soundfile.read(wav)
    assert rate == 16000 and len(samples) == 6400 and abs(samples).max() > 0


def test_generate_with_a_gguf_vocoder_cannot_encode_audio(snapshots, tmp_path, capsys):
    out = tmp_path / "gguf"
    argv = ["convert", "--to", "gguf", "--model-dir", str(snapshots), "--out", str(out)]
    assert main(argv) == 0
    clip = tmp_path / "clip.wav"
    soundfile.write(clip, [0.1, -0.1] * 8000, 16000)
    argv = ["generate", "--caption", "A dog barks", "--model-dir", str(out), "--steps", "2"]
    argv += ["--init-audio", str(clip), "--out", str(tmp_path / "x.wav"), "--device", "cpu"]
    assert main(argv) == 2
    assert "safetensors audio tokenizer" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


def test_two_dit_files_in_one_folder_are_ambiguous(snapshots, tmp_path, capsys):
    out = tmp_path / "gguf"
    assert main(["convert", "--to", "gguf", "--model-dir", str(snapshots), "--out", str(out)]) == 0
    shutil.copyfile(out / "dit.gguf", out / "dit_Q4_0.gguf")
    argv = [
        "generate",
        "--caption",
        "A dog",
        "--model-dir",
        str(out),
        "--out",
        str(tmp_path / "x.wav"),
    ]
    assert main(argv) == 2
    assert "pick one with --generator" in capsys.readouterr().err
