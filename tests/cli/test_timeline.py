"""``generate --event``, ``--timeline`` and ``--time-mode`` end to end on the tiny snapshots, and
every error before a model loads."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from audiogen_core.cli.main import main
from audiogen_core.cli.timeline import parse_event

DOOR = "<|caption|> a heavy door slams <|sfx|> a heavy door slams"


def run(model_dir, out, *args):
    return main(
        ["generate", "--out", str(out), "--model-dir", str(model_dir), "--steps", "2"]
        + ["--format", "float", *args]
    )


def test_event_format():
    door = parse_event("2.0:3.0:<|sfx|> a heavy door slams")
    assert (door.start_s, door.end_s, door.fade_s, door.strength) == (2.0, 3.0, 0.0, 1.0)
    assert door.prompt == "<|caption|> a heavy door slams <|sfx|> a heavy door slams"
    shaped = parse_event("3::0.5:0.8:rain: heavy, 3:00 am")
    assert (shaped.start_s, shaped.end_s, shaped.fade_s, shaped.strength) == (3.0, None, 0.5, 0.8)
    assert shaped.prompt == "<|caption|> rain: heavy, 3:00 am"
    assert parse_event("1:2:0.25:12 monkeys").prompt == "<|caption|> 12 monkeys"
    assert parse_event(f"0:1:{DOOR}").prompt == DOOR


def test_a_whole_clip_event_is_generation_with_its_prompt(tiny_model_dir, tmp_path):
    timed, plain = tmp_path / "timed.wav", tmp_path / "plain.wav"
    args = ("--duration", "1.2", "--seed", "4")
    assert run(tiny_model_dir, timed, "--caption", "rain", "--event", f"0::{DOOR}", *args) == 0
    assert run(tiny_model_dir, plain, "--prompt", DOOR, *args) == 0
    timed_audio, rate = soundfile.read(timed, dtype="float32")
    plain_audio, _ = soundfile.read(plain, dtype="float32")
    assert rate == 16000 and timed_audio.shape == (19200,)
    assert np.array_equal(timed_audio, plain_audio)


def test_events_and_a_timeline_file(tiny_model_dir, tmp_path, capsys):
    base = tmp_path / "base.wav"
    assert run(tiny_model_dir, base, "--caption", "steady rain", "--duration", "1.2") == 0
    out = tmp_path / "events.wav"
    events = ["--event", "0.4:0.8:0.08:0.7:<|sfx|> a heavy door slams", "--event", "0.8::a dog"]
    assert run(tiny_model_dir, out, "--caption", "steady rain", "--duration", "1.2", *events) == 0
    audio, _ = soundfile.read(out, dtype="float32")
    base_audio, _ = soundfile.read(base, dtype="float32")
    assert audio.shape == base_audio.shape == (19200,)
    assert not np.array_equal(audio, base_audio)
    assert "0.4-0.8 <|caption|> a heavy door slams" in capsys.readouterr().err

    text = tmp_path / "scene.txt"
    text.write_text("env: steady rain\n0.2-0.6 sfx: a door slams\n0.6-1.0 a dog barks\n")
    for mode in ("blend", "aligned"):
        out = tmp_path / f"{mode}.wav"
        assert run(tiny_model_dir, out, "--timeline", str(text), "--time-mode", mode) == 0
        # Without --duration the clip lasts until the latest event ends: 1.0 s.
        assert soundfile.info(out).frames == 16000


def test_aligned_mode_without_events_and_edits_with_events(tiny_model_dir, tmp_path):
    out = tmp_path / "aligned.wav"
    args = ("--caption", "a man speaks", "--speech", "calm voice", "--asr", "hello there")
    assert run(tiny_model_dir, out, *args, "--time-mode", "aligned", "--duration", "0.8") == 0
    assert soundfile.info(out).frames == 12800

    clip = tmp_path / "clip.wav"
    rng = np.random.default_rng(0)
    soundfile.write(clip, (0.1 * rng.standard_normal(32000)).astype(np.float32), 16000)
    edited = tmp_path / "edited.wav"
    edit = ("--init-audio", str(clip), "--regenerate", "0.5:1.0", "--event", f"0.5:1.0:{DOOR}")
    assert run(tiny_model_dir, edited, "--caption", "noise", *edit) == 0
    assert soundfile.info(edited).frames == 32000


@pytest.mark.parametrize(
    "args, message",
    [
        (["--caption", "rain", "--event", "2.0"], "--event '2.0': expected START:END"),
        (["--caption", "rain", "--event", "x:3:door"], "START must be a number of seconds"),
        (["--caption", "rain", "--event", "1:y:door"], "END must be a number of seconds"),
        (["--caption", "rain", "--event", "3:2:door"], "ends (2 s) before it starts"),
        (["--caption", "rain", "--event", "2:3:"], "has no prompt after the times"),
        (["--caption", "rain", "--event", "2:3:0.8:door"], "longer than half the event"),
        (["--caption", "rain", "--event", "2:3:0:1.5:door"], "strength 1.5 must be"),
        (["--caption", "rain", "--event", "2:3:nan:door"], "FADE must be a finite number"),
        (["--caption", "rain", "--event", "2:3:<|bogus|> door"], "--event '2:3:<|bogus|> door'"),
        (
            ["--caption", "rain", "--duration", "2", "--event", "1.5:3:door"],
            "does not fit in the 2 s clip of --duration",
        ),
        (["--event", "1:2:door"], "the blend time mode needs a base prompt"),
        (["--sfx", "bang", "--event", "1:2:door"], "--sfx needs --caption"),
        (
            ["--caption", "rain", "--time-mode", "aligned", "--event", "1:2:0.2:door"],
            "FADE and STRENGTH are blend-mode settings",
        ),
        (["--caption", "rain", "--timeline", "missing.txt"], "--timeline missing.txt does not"),
    ],
)
def test_bad_timeline_flags_fail_before_any_model_loads(tmp_path, capsys, args, message):
    out = tmp_path / "never.wav"
    # The model folder does not exist: these errors must come before it is even looked at.
    assert run(tmp_path / "no-models", out, *args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "weights" not in err
    assert not out.exists()


def test_timeline_file_errors_name_the_lines(tmp_path, capsys):
    text = tmp_path / "scene.txt"
    text.write_text("rain\n2.0-x sfx: door\n3-4 bogus: thing\n")
    assert run(tmp_path / "no-models", tmp_path / "o.wav", "--timeline", str(text)) == 2
    err = capsys.readouterr().err
    assert f"--timeline {text}: 2 problems" in err and "line 2:" in err and "line 3:" in err

    text.write_text("rain\n1-2 sfx: door\n")
    args = ("--caption", "snow", "--timeline", str(text))
    assert run(tmp_path / "no-models", tmp_path / "o.wav", *args) == 2
    assert "has a base prompt (lines without times)" in capsys.readouterr().err


def test_events_must_fit_the_init_audio(tmp_path, capsys):
    clip = tmp_path / "clip.wav"
    soundfile.write(clip, np.zeros(16000, dtype=np.float32), 16000)
    base = ("--caption", "rain", "--init-audio", str(clip), "--event")
    assert run(tmp_path / "none", tmp_path / "o.wav", *base, "0.5:1.5:door") == 2
    assert "does not fit in the 1 s clip of --init-audio" in capsys.readouterr().err
    for events in (["--event", "0.2:0.5:door"], []):
        aligned = ("--caption", "rain", "--init-audio", str(clip), "--time-mode", "aligned")
        assert run(tmp_path / "none", tmp_path / "o.wav", *aligned, *events) == 2
        assert "--time-mode aligned does not go with --init-audio" in capsys.readouterr().err
