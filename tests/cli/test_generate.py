"""``generate`` in-process: the main job on a fresh machine, and its error messages (the
subprocess run is in test_smoke.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import soundfile

from audiogen_core.cli.main import main


@dataclass
class Result:
    returncode: int
    stderr: str


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """The command line in this process, as a user's shell would start it."""
    monkeypatch.delenv("AUDIOGEN_MODEL_DIR", raising=False)

    def run(*args: str) -> Result:
        code = main(list(args))
        return Result(code, capsys.readouterr().err)

    return run


def test_generate_from_tagged_prompt_float_wav_and_separate_folders(
    tiny_model_dir, tmp_path, run_cli
):
    out = tmp_path / "scene.wav"
    result = run_cli(
        "generate",
        "--prompt",
        "<|caption|> rain <|env|> city",
        "--out",
        str(out),
        "--steps",
        "1",
        "--format",
        "float",
        "--variations",
        "2",
        "--generator",
        str(tiny_model_dir / "Dasheng-AudioGen"),
        "--audio-tokenizer",
        str(tiny_model_dir / "dashengtokenizer"),
        "--text-encoder",
        str(tiny_model_dir / "flan-t5-large"),
    )
    assert result.returncode == 0, result.stderr
    for name in ("scene_00.wav", "scene_01.wav"):
        info = soundfile.info(str(tmp_path / name))
        assert info.subtype == "FLOAT" and info.samplerate == 16000
        assert info.frames % 640 == 0 and info.frames > 0


def test_missing_weights_explain_where_and_how(tmp_path, run_cli):
    result = run_cli(
        "generate",
        "--caption",
        "x",
        "--out",
        str(tmp_path / "a.wav"),
        "--model-dir",
        str(tmp_path / "models"),
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(tmp_path / "models" / "Dasheng-AudioGen") in result.stderr
    assert "hf download mispeech/dashengtokenizer" in result.stderr
    assert "--download" in result.stderr


def test_existing_output_is_never_overwritten(tiny_model_dir, tmp_path, run_cli):
    out = tmp_path / "keep.wav"
    out.write_bytes(b"user data")
    result = run_cli(
        "generate",
        "--caption",
        "x",
        "--out",
        str(out),
        "--model-dir",
        str(tiny_model_dir),
        "--steps",
        "1",
    )
    assert result.returncode == 2 and "already exists" in result.stderr
    assert out.read_bytes() == b"user data"


def test_bad_inputs_are_one_line_errors(tiny_model_dir, tmp_path, run_cli):
    for args, text in [
        (["--prompt", "no tag here"], "<|caption|>"),
        (["--caption", "x", "--duration", "-2"], "out of range"),
        (["--caption", "x", "--steps", "0"], "steps"),
        (["--sfx", "only effects"], "--caption"),
        (["--prompt", "<|caption|> x", "--sfx", "bark"], "--prompt replaces the view options"),
        (
            ["--caption", "x", "--music", "jazz <|sfx|> door"],
            "move the text that follows it into the sfx field",
        ),
    ]:
        result = run_cli(
            "generate", *args, "--out", str(tmp_path / "o.wav"), "--model-dir", str(tiny_model_dir)
        )
        assert result.returncode == 2, (args, result.stderr)
        assert text in result.stderr and "Traceback" not in result.stderr


def test_download_failure_is_a_clear_error_not_a_hang(tmp_path, monkeypatch, run_cli):
    import huggingface_hub.constants

    # Read once at import; set both so that nothing here can reach the network.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    result = run_cli(
        "generate",
        "--caption",
        "x",
        "--out",
        str(tmp_path / "a.wav"),
        "--model-dir",
        str(tmp_path / "models"),
        "--download",
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Downloading mispeech/Dasheng-AudioGen" in result.stderr
    assert not (tmp_path / "a.wav").exists()


def test_multilingual_generate_warns_about_a_view_not_in_english(tiny_model_dir, tmp_path, run_cli):
    out = tmp_path / "narration.wav"
    result = run_cli(
        "generate",
        "--caption",
        "A woman narrates a story",
        "--asr",
        "Había una vez una niña que cantaba.",
        "--env",
        "Тихая комната",
        "--out",
        str(out),
        "--duration",
        "0.5",
        "--steps",
        "1",
        "--model-dir",
        str(tiny_model_dir),
        "--multilingual",
    )
    assert result.returncode == 0, result.stderr
    assert soundfile.info(str(out)).frames == 8000
    assert "warning: Not in English: <|env|> (cyrillic)." in result.stderr


def test_mismatched_generator_and_text_encoder_is_a_clear_error(tiny_model_dir, tmp_path, capsys):
    code = main(
        [
            "generate",
            "--caption",
            "x",
            "--out",
            str(tmp_path / "a.wav"),
            "--model-dir",
            str(tiny_model_dir),
            "--text-encoder",
            str(tiny_model_dir / "mt5-large"),
        ]
    )
    stderr = capsys.readouterr().err
    assert code == 2 and str(tiny_model_dir / "Dasheng-AudioGen") in stderr
    assert "google/mt5-large" in stderr and not (tmp_path / "a.wav").exists()


def test_missing_weights_point_at_the_checkpoint_that_is_there(tiny_model_dir, tmp_path, capsys):
    models = tmp_path / "models"
    models.mkdir()
    for name in ("Dasheng-AudioGen-Multilingual", "mt5-large", "dashengtokenizer"):
        (models / name).symlink_to(tiny_model_dir / name)
    args = ["generate", "--caption", "x", "--out", str(tmp_path / "a.wav")]
    assert main([*args, "--model-dir", str(models)]) == 2
    stderr = capsys.readouterr().err
    assert "add --multilingual to use it" in stderr
    assert "hf download google/flan-t5-large --local-dir" in stderr
    with pytest.raises(SystemExit):
        main(["download", "--help"])
    assert "--multilingual" in capsys.readouterr().out


def test_text_encoder_is_freed_before_sampling(tiny_model_dir, tmp_path, monkeypatch):
    """Sampling and decoding run without the text encoder in memory."""
    import gc
    import weakref

    from audiogen_core.checkpoints import weights
    from audiogen_core.cli import generate

    loaded = []
    real_load = weights.load_text_encoder

    def load_and_watch(*args, **kwargs):
        encoder = real_load(*args, **kwargs)
        loaded.append((weakref.ref(encoder), weakref.ref(encoder.model)))
        return encoder

    alive_during_steps = []

    class WatchingPrinter:
        def __call__(self, step, total):
            gc.collect()  # anything still reachable survives this; freed objects don't
            alive_during_steps.append([ref() is not None for ref in loaded[0]])

    monkeypatch.setattr(weights, "load_text_encoder", load_and_watch)
    monkeypatch.setattr(generate, "StepPrinter", WatchingPrinter)
    out = tmp_path / "scene.wav"
    argv = ["generate", "--caption", "rain", "--out", str(out), "--duration", "1"]
    status = main([*argv, "--steps", "2", "--model-dir", str(tiny_model_dir)])
    assert status == 0
    assert len(loaded) == 1
    assert alive_during_steps == [[False, False], [False, False]]
    assert soundfile.info(str(out)).frames == 16000


def test_auto_precision_is_named_with_its_reason(tiny_model_dir, tmp_path, run_cli):
    from audiogen_core.runtime.devices import auto_dtype, dtype_name

    dtype, reason = auto_dtype("cpu")
    argv = ["generate", "--caption", "rain", "--out", str(tmp_path / "a.wav"), "--duration", "1"]
    result = run_cli(*argv, "--steps", "1", "--device", "cpu", "--model-dir", str(tiny_model_dir))
    assert result.returncode == 0, result.stderr
    assert f"precision: {dtype_name(dtype)} on cpu (auto: {reason})" in result.stderr


def test_staged_cli_run_matches_the_pipeline_in_one_piece(tiny_model_dir, tmp_path, run_cli):
    """Loading one model at a time changes nothing in the audio."""
    from audiogen_core.pipeline import AudioGenPipeline

    out = tmp_path / "scene.wav"
    prompt = "<|caption|> A dog barks <|sfx|> bark"
    argv = ["generate", "--prompt", prompt, "--out", str(out), "--format", "float"]
    argv += ["--duration", "1", "--steps", "2", "--seed", "7", "--dtype", "fp32"]
    result = run_cli(*argv, "--model-dir", str(tiny_model_dir))
    assert result.returncode == 0, result.stderr
    written, _ = soundfile.read(str(out), dtype="float32")
    pipe = AudioGenPipeline.from_model_dir(tiny_model_dir, device="cpu", dtype="fp32")
    expected = pipe.generate(prompt, seed=7, steps=2, duration_s=1.0).waveform[0, 0].numpy()
    assert written.shape == expected.shape
    assert abs(written - expected).max() < 1e-6


def test_weight_dtype_stores_the_dit_matrices_in_fp8(tiny_model_dir, tmp_path, monkeypatch):
    """--weight-dtype reaches the loaders: the DiT's Linear weights are fp8, the WAV is written."""
    import torch

    from audiogen_core.checkpoints import weights

    stored = []
    real_load = weights.load_generator

    def load_and_look(*args, **kwargs):
        generator = real_load(*args, **kwargs)
        linears = [m for m in generator.backbone.modules() if isinstance(m, torch.nn.Linear)]
        stored.append({m.weight.dtype for m in linears})
        return generator

    monkeypatch.setattr(weights, "load_generator", load_and_look)
    out = tmp_path / "scene.wav"
    argv = ["generate", "--caption", "rain", "--out", str(out), "--duration", "1", "--steps", "1"]
    argv += ["--dtype", "fp32", "--weight-dtype", "fp8_e4m3fn", "--model-dir", str(tiny_model_dir)]
    assert main(argv) == 0
    assert stored == [{torch.float8_e4m3fn}]
    samples, rate = soundfile.read(str(out), dtype="float32")
    assert (rate, samples.shape) == (16000, (16000,))
    assert abs(samples).max() > 0
