"""The command line's output files and argument checks: everything that can be found out before
a model loads is found then, files are written all or nothing, and nothing is left broken."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import numpy as np
import pytest
import soundfile
import torch
from file_limits import file_size_limit
from safetensors.torch import load_file, save_file

from audiogen_core.cli import main as cli
from audiogen_core.cli import outputs
from audiogen_core.cli.errors import CliError
from audiogen_core.pipeline import AudioGenPipeline


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fail the test if the command line gets as far as loading a model."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr(AudioGenPipeline, "load", refuse)


def run_main(capsys, *args: str) -> tuple[int, str]:
    status = cli.main(["generate", *args])
    return status, capsys.readouterr().err


def _one_error_line(status: int, err: str) -> str:
    assert status == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return err


# --- output files, checked before any model loads ---------------------------------------------


def test_output_problems_are_found_before_any_model_loads(
    capsys, tmp_path, tiny_model_dir, no_model_loads
):
    folder_as_out = tmp_path / "taken.wav"
    folder_as_out.mkdir()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    variation_folder = tmp_path / "scene_01.wav"
    variation_folder.mkdir()
    long_name = "x" * 300 + ".wav"
    cases = [
        (["--out", str(folder_as_out), "--overwrite"], "is a folder"),
        (["--out", str(a_file / "scene.wav")], "is not a folder"),
        (["--out", str(tmp_path / long_name)], "choose a shorter --out"),
        (["--out", str(tmp_path / "scene.wav"), "--variations", "3"], "scene_01.wav is a folder"),
        (["--out", str(tmp_path / "missing" / "scene.wav")], "does not exist"),
    ]
    for args, message in cases:
        status, err = run_main(
            capsys, "--caption", "rain", *args, "--model-dir", str(tiny_model_dir)
        )
        assert message in _one_error_line(status, err), (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "scene_01.wav", "taken.wav"]


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_read_only_folder_is_refused_before_generation(capsys, tmp_path, tiny_model_dir,
                                                       no_model_loads):  # fmt: skip
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() == 0:  # root writes through permission bits, not into an immutable folder
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("running as root without chattr +i")
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
        undo = ["chmod", "755", str(folder)]
    try:
        status, err = run_main(
            capsys, "--caption", "rain", "--out", str(folder / "a.wav"),
            "--model-dir", str(tiny_model_dir),
        )  # fmt: skip
    finally:
        subprocess.run(undo, check=True)
    assert "is not writable" in _one_error_line(status, err)


def test_existing_output_keeps_its_content_without_overwrite(
    capsys, tmp_path, tiny_model_dir, no_model_loads
):
    (tmp_path / "scene_01.wav").write_bytes(b"keep")
    status, err = run_main(
        capsys,
        "--caption",
        "rain",
        "--out",
        str(tmp_path / "scene.wav"),
        "--variations",
        "2",
        "--model-dir",
        str(tiny_model_dir),
    )
    assert "scene_01.wav already exists" in _one_error_line(status, err)
    assert (tmp_path / "scene_01.wav").read_bytes() == b"keep"
    assert not (tmp_path / "scene_00.wav").exists()


def test_variations_are_written_all_or_nothing(tmp_path):
    # The second file is larger than the file-size limit allows.
    paths = [tmp_path / "scene_00.wav", tmp_path / "scene_01.wav"]
    clips = [np.zeros(1000, np.float32), np.zeros(40_000, np.float32)]
    with file_size_limit(20_000), pytest.raises(CliError, match=r"scene_01\.wav: File too"):
        outputs.write_wavs(paths, clips, 16000, "pcm16", overwrite=False)
    assert list(tmp_path.iterdir()) == []  # neither file, and no temporary left behind


def test_a_write_error_is_one_error_line_naming_the_file(capsys, tmp_path, tiny_model_dir):
    out = tmp_path / "scene.wav"
    with file_size_limit(10_000):
        status, err = run_main(
            capsys, "--caption", "rain", "--out", str(out), "--duration", "1", "--steps", "1",
            "--model-dir", str(tiny_model_dir),
        )  # fmt: skip
    assert f"could not write {out}: File too large" in _one_error_line(status, err)
    assert list(tmp_path.iterdir()) == []


def test_files_get_the_umask_mode_and_float_wavs_are_reproducible(capsys, tmp_path,
                                                                  tiny_model_dir):  # fmt: skip
    out = tmp_path / "scene.wav"
    out.write_bytes(b"old")
    out.chmod(0o644)
    args = ["--caption", "rain \x1b[31mred", "--out", str(out), "--duration", "0.5",
            "--steps", "1", "--seed", "3", "--format", "float", "--overwrite",
            "--model-dir", str(tiny_model_dir)]  # fmt: skip

    def run_with_umask(mask: int) -> str:
        previous = os.umask(mask)
        try:
            status, err = run_main(capsys, *args)
        finally:
            os.umask(previous)
        assert status == 0, err
        return err

    err = run_with_umask(0o022)
    assert out.stat().st_mode & 0o777 == 0o644
    # The control character is shown escaped, never sent raw to the terminal.
    assert "\x1b" not in err and "rain \\x1b[31mred" in err
    data = out.read_bytes()
    assert soundfile.info(str(out)).subtype == "FLOAT"
    time.sleep(1.05)  # a PEAK chunk would record a different second
    run_with_umask(0o027)
    assert out.read_bytes() == data
    assert b"PEAK" not in data
    assert out.stat().st_mode & 0o777 == 0o640


def test_non_utf8_text_on_the_command_line_is_a_clear_error(capsys, tmp_path, tiny_model_dir,
                                                            no_model_loads):  # fmt: skip
    # What Python makes of the Latin-1 bytes of "café" on a UTF-8 command line.
    caption = os.fsdecode(b"caf\xe9")
    status, err = run_main(
        capsys, "--caption", caption, "--out", str(tmp_path / "a.wav"),
        "--model-dir", str(tiny_model_dir),
    )  # fmt: skip
    assert "caption text is not valid UTF-8" in _one_error_line(status, err)


# --- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--steps", "1000000"], "--steps must be between 1 and 200, got 1000000"),
        (["--variations", "17"], "--variations must be between 1 and 16, got 17"),
        (["--variations", "0"], "--variations must be between 1 and 16"),
        (["--guidance", "25"], "--guidance must be between 0 and 20"),
        (["--guidance", "nan"], "--guidance must be between 0 and 20"),
        (["--sway", "-3"], "--sway must be between -1 and 1"),
        (["--seed", str(2**64)], "--seed must be between 0 and 2**64 - 1"),
        (["--seed", "-2"], "--seed must be between 0 and 2**64 - 1"),
        (["--duration", "inf"], "--duration must be a finite number"),
        (["--duration", "0"], "--duration 0 s is out of range"),
    ],
)
def test_arguments_are_checked_with_the_flag_name_before_models_load(
    capsys, tmp_path, tiny_model_dir, no_model_loads, args, message
):
    status, err = run_main(
        capsys, "--caption", "rain", "--out", str(tmp_path / "a.wav"), *args,
        "--model-dir", str(tiny_model_dir),
    )  # fmt: skip
    assert message in _one_error_line(status, err)


@pytest.mark.parametrize(
    "prompt, message",
    [
        ("<|caption|>   <|sfx|> rain", "The <|caption|> view is empty"),
        ("<|caption|> a <|sfx|> b <|sfx|> c", "<|sfx|> appears more than once"),
    ],
)
def test_prompt_rules_match_the_parser(capsys, tmp_path, tiny_model_dir, no_model_loads, prompt,
                                       message):  # fmt: skip
    status, err = run_main(
        capsys, "--prompt", prompt, "--out", str(tmp_path / "a.wav"),
        "--model-dir", str(tiny_model_dir),
    )  # fmt: skip
    assert message in _one_error_line(status, err)


# --- weights folders ---------------------------------------------------------------------------


def test_a_pickle_given_as_generator_is_refused_as_a_pickle(
    capsys, tmp_path, tiny_model_dir, no_model_loads
):
    pickle_file = tmp_path / "pytorch_model.bin"
    torch.save({"w": torch.zeros(2)}, pickle_file)
    status, err = run_main(
        capsys, "--caption", "rain", "--out", str(tmp_path / "a.wav"),
        "--generator", str(pickle_file),
        "--audio-tokenizer", str(tiny_model_dir / "dashengtokenizer"),
        "--text-encoder", str(tiny_model_dir / "flan-t5-large"),
    )  # fmt: skip
    err = _one_error_line(status, err)
    assert "pytorch_model.bin is a pickle checkpoint" in err and "never loaded" in err


def test_missing_weights_messages_give_runnable_commands(capsys, tmp_path, no_model_loads):
    status, err = run_main(
        capsys, "--caption", "rain", "--out", str(tmp_path / "a.wav"),
        "--generator", str(tmp_path / "gen"),
    )  # fmt: skip
    err = _one_error_line(status, err)
    assert "DIR" not in err
    assert "missing: --audio-tokenizer, --text-encoder" in err
    assert '--local-dir flan-t5-large --include "*.json" "*.safetensors"' in err

    status, err = run_main(
        capsys, "--caption", "rain", "--out", str(tmp_path / "a.wav"),
        "--model-dir", str(tmp_path / "models"),
    )  # fmt: skip
    err = _one_error_line(status, err)
    flan = tmp_path / "models" / "flan-t5-large"
    assert f'hf download google/flan-t5-large --local-dir {flan} --include "*.json"' in err


# --- never write broken audio ------------------------------------------------------------------


def test_nan_weights_are_an_error_naming_the_stage_and_write_nothing(capsys, tmp_path,
                                                                     tiny_model_dir):  # fmt: skip
    models = shutil.copytree(tiny_model_dir, tmp_path / "models")
    path = models / "Dasheng-AudioGen" / "model.safetensors"
    tensors = {key: value.clone() for key, value in load_file(str(path)).items()}
    tensors["backbone.final_block.linear.bias"].fill_(float("nan"))
    path.unlink()  # the loaded tensors may still map the old file
    save_file(tensors, str(path))
    out = tmp_path / "scene.wav"
    # fp32 as stored: the damaged weight reaches sampling, which names itself.
    status, err = run_main(
        capsys, "--caption", "rain", "--out", str(out), "--duration", "0.4", "--steps", "1",
        "--dtype", "fp32", "--model-dir", str(models),
    )  # fmt: skip
    assert "sampling produced NaN or infinite values" in _one_error_line(status, err)
    assert not out.exists()
    # Converted to bf16 while loading: the loader names the damaged weight before any work.
    status, err = run_main(
        capsys, "--caption", "rain", "--out", str(out), "--duration", "0.4", "--steps", "1",
        "--dtype", "bf16", "--model-dir", str(models),
    )  # fmt: skip
    line = _one_error_line(status, err)
    assert "backbone.final_block.linear.bias holds NaN or infinite values" in line
    assert not out.exists()
