"""``generate`` with --init-audio, --denoise, --regenerate, --extend-*, --window/--overlap."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from audiogen_core.cli.main import main


@pytest.fixture(scope="module")
def stereo_clip(tmp_path_factory):
    """A real 2.5 s stereo recording-like file at 44.1 kHz: a tone over noise, as FLAC."""
    rate = 44100
    t = np.arange(int(2.5 * rate)) / rate
    rng = np.random.default_rng(0)
    left = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    right = 0.3 * np.sin(2 * np.pi * 660 * t) + 0.05 * rng.standard_normal(t.size)
    path = tmp_path_factory.mktemp("audio") / "clip.flac"
    soundfile.write(path, np.stack([left, right], axis=1).astype(np.float32), rate)
    return path


def generate(model_dir, out, *args):
    return main(
        ["generate", "--caption", "a bell rings", "--out", str(out), "--model-dir", str(model_dir)]
        + ["--steps", "2", *args]
    )


# 2.5 s at 44.1 kHz -> 40000 samples at 16 kHz -> (1 + 40000 // 160) // 4 = 62 latent frames
ENCODED_SAMPLES = 62 * 640


def test_init_audio_with_denoise_keeps_the_clips_length(tiny_model_dir, stereo_clip, tmp_path):
    out = tmp_path / "variation.wav"
    assert generate(tiny_model_dir, out, "--init-audio", str(stereo_clip), "--denoise", "0.6") == 0
    audio, rate = soundfile.read(out)
    assert rate == 16000 and audio.shape == (ENCODED_SAMPLES,)
    assert np.abs(audio).max() > 0


def test_regenerate_ranges_and_extend_after(tiny_model_dir, stereo_clip, tmp_path, capsys):
    out = tmp_path / "fixed.wav"
    code = generate(
        tiny_model_dir,
        out,
        "--init-audio",
        str(stereo_clip),
        "--regenerate",
        "0.5:1.0",
        "--regenerate",
        "1.5:2.0",
        "--fade",
        "0.1",
        "--extend-after",
        "1.013",
        "--variations",
        "2",
    )
    assert code == 0, capsys.readouterr().err
    for name in ("fixed_00.wav", "fixed_01.wav"):
        audio, _ = soundfile.read(tmp_path / name)
        assert audio.shape == (ENCODED_SAMPLES + 16208,)
    first, _ = soundfile.read(tmp_path / "fixed_00.wav")
    second, _ = soundfile.read(tmp_path / "fixed_01.wav")
    # the kept start (0 - 0.5 s, minus the decoder's reach) is the same in both variations
    np.testing.assert_array_equal(first[:4000], second[:4000])
    assert not np.array_equal(first[9000:15000], second[9000:15000])


def test_long_duration_in_windows(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "long.wav"
    code = generate(tiny_model_dir, out, "--duration", "50.5", "--window", "20", "--overlap", "4")
    assert code == 0
    assert "6/6" in capsys.readouterr().err  # 3 windows x 2 steps
    audio, _ = soundfile.read(out)
    assert audio.shape == (808000,)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--regenerate", "5:7"], "--regenerate 5:7 lies outside clip.flac, which is 2.50 s long"),
        (["--regenerate", "2:1"], "--regenerate 2:1: START must be before END"),
        (["--regenerate", "two:four"], "--regenerate expects START:END"),
        (["--regenerate", "0.5:1.0", "--fade", "0.3"], "--fade 0.3 is longer than half"),
        (["--denoise", "0"], "--denoise must be in (0, 1]"),
        (["--denoise", "1.5"], "--denoise must be in (0, 1]"),
        (["--window", "20", "--overlap", "20"], "--overlap 20 must be shorter than --window 20"),
        (["--duration", "3"], "--duration does not go with --init-audio"),
        (["--extend-after", "-1"], "--extend-after must be a finite number"),
        (["--extend-after", "2", "--denoise", "0.5"], "need --denoise 1"),
        (["--fade", "0.2"], "--fade softens --regenerate ranges"),
    ],
)
def test_bad_edit_flags_are_one_line_errors(
    tiny_model_dir, stereo_clip, tmp_path, capsys, args, message
):
    out = tmp_path / "never.wav"
    assert generate(tiny_model_dir, out, "--init-audio", str(stereo_clip), *args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--denoise", "0.5"], "--denoise needs --init-audio FILE"),
        (["--regenerate", "1:2"], "--regenerate needs --init-audio FILE"),
        (["--regenerate", "1:2", "--fade", "0.2"], "--regenerate needs --init-audio FILE"),
        (["--extend-before", "1"], "--extend-before needs --init-audio FILE"),
        (["--init-audio", "missing.wav"], "--init-audio missing.wav does not exist"),
    ],
)
def test_edit_flags_need_readable_init_audio(tiny_model_dir, tmp_path, capsys, args, message):
    assert generate(tiny_model_dir, tmp_path / "o.wav", *args) == 2
    assert message in capsys.readouterr().err


def test_unreadable_init_audio_is_named(tiny_model_dir, tmp_path, capsys):
    bogus = tmp_path / "notes.wav"
    bogus.write_text("not audio")
    assert generate(tiny_model_dir, tmp_path / "o.wav", "--init-audio", str(bogus)) == 2
    assert f"--init-audio {bogus} is not audio" in capsys.readouterr().err
