"""The aligned mode and timelines through the pipeline on the tiny snapshots: lengths in
frames and samples, clip-length rules, and every error before sampling starts."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from audiogen_core import pipeline as pipeline_module
from audiogen_core.conditioning.timeline import Timeline, TimelineError, TimelineEvent
from audiogen_core.pipeline import AudioGenPipeline
from audiogen_core.sampling import windows
from audiogen_core.sampling.settings import SETTINGS

SPEECH = "<|caption|> A man speaks <|speech|> calm male voice <|asr|> hello there, how are you"
BASE = "<|caption|> rain on a roof"
DOOR = "<|caption|> a heavy door slams <|sfx|> a heavy door slams"


def _own_frames(pipe, prompt):
    return int(pipe.encode_prompt(prompt).tensors.local_frames.sum())


def test_aligned_mode_lasts_the_model_timing(pipe):
    cond = pipe.encode_prompt(SPEECH)
    own = _own_frames(pipe, SPEECH)
    aligned = pipe.align(cond)
    assert aligned.predicted_frames == [own] and own > 0
    assert aligned.prompts == cond.prompts
    latent = pipe.sample(aligned, seed=0, steps=2, variations=2)
    assert latent.lengths.tolist() == [own, own]
    assert latent.num_samples == [own * 640] * 2
    assert pipe.decode(latent).shape == (2, 1, own * 640)


def test_aligned_mode_with_a_duration_is_exact_to_the_sample(pipe):
    cond = pipe.encode_prompt(SPEECH)
    aligned = pipe.align(cond, duration_s=1.013)
    assert aligned.predicted_frames == [25]
    audio = pipe.decode(pipe.sample(aligned, seed=1, steps=2, duration_s=1.013))
    assert audio.shape == (1, 1, round(1.013 * 16000))
    with pytest.raises(ValueError, match="laid out over 25 latent frames, but 50 were"):
        pipe.sample(aligned, seed=1, steps=2, duration_s=2.0)
    with pytest.raises(ValueError, match="laid out over 25 latent frames, but 12 were"):
        pipe.sample(aligned, seed=1, steps=2, duration_s=0.5)
    with pytest.raises(ValueError, match="duration_s"):
        pipe.align(cond, duration_s=-1.0)
    with pytest.raises(TypeError, match="Conditioning"):
        pipe.align(cond.tensors)


def test_timeline_clip_length_rules(pipe):
    door = _own_frames(pipe, DOOR)
    timed = Timeline((TimelineEvent(0.4, 0.8, DOOR), TimelineEvent(0.2, None, SPEECH)), BASE)
    assert pipe.encode_timeline(timed, duration_s=2.0, mode="aligned").predicted_frames == [50]
    # Without a duration: the latest end, an open event lasting its own timing.
    speech = _own_frames(pipe, SPEECH)
    assert pipe.encode_timeline(timed, mode="aligned").predicted_frames == [max(20, 5 + speech)]
    only_open = Timeline((TimelineEvent(0.2, None, DOOR),))
    assert pipe.encode_timeline(only_open, mode="aligned").predicted_frames == [5 + door]
    base_only = Timeline((), BASE)
    assert (
        pipe.encode_timeline(base_only, mode="aligned").predicted_frames
        == pipe.encode_prompt(BASE).predicted_frames
    )


def test_timeline_samples_and_decodes(pipe):
    timed = Timeline((TimelineEvent(0.4, 0.8, DOOR),), BASE)
    cond = pipe.encode_timeline(timed, duration_s=1.2, mode="aligned")
    assert cond.prompts == [f"{BASE}\n0.4-0.8 {DOOR}"]
    audio = pipe.decode(pipe.sample(cond, seed=0, steps=2))
    assert audio.shape == (1, 1, 30 * 640) and torch.isfinite(audio).all()
    # The event's frames differ from the base-only clip's; the conditioning is data.
    plain = pipe.encode_timeline(Timeline((), BASE), duration_s=1.2, mode="aligned")
    changed = (cond.tensors.time_aligned != plain.tensors.time_aligned).any(dim=-1)[0]
    assert changed.nonzero().flatten().tolist() == list(range(10, 20))


def test_timeline_errors_name_the_line(pipe):
    late = Timeline((TimelineEvent(1.0, 3.0, DOOR, line=4),), BASE)
    with pytest.raises(TimelineError, match="line 4: the event 1-3 s ends after the 2 s clip"):
        pipe.encode_timeline(late, duration_s=2.0, mode="aligned")
    after = Timeline((TimelineEvent(2.5, None, DOOR, line=2),), BASE)
    with pytest.raises(TimelineError, match="line 2: .* starts at or after the end"):
        pipe.encode_timeline(after, duration_s=2.0, mode="aligned")
    tiny = Timeline((TimelineEvent(1.0, 1.01, DOOR, line=7),), BASE)
    with pytest.raises(TimelineError, match="line 7: .* shorter than one latent frame"):
        pipe.encode_timeline(tiny, duration_s=2.0, mode="aligned")
    long = Timeline((TimelineEvent(0.0, 700.0, DOOR),))
    with pytest.raises(TimelineError, match="600 s limit"):
        pipe.encode_timeline(long, mode="aligned")
    with pytest.raises(TypeError, match="Timeline"):
        pipe.encode_timeline([DOOR])


def test_timeline_event_checks():
    with pytest.raises(TimelineError, match="line 3: the event ends"):
        TimelineEvent(2.0, 1.0, DOOR, line=3)
    with pytest.raises(TimelineError, match="start"):
        TimelineEvent(-1.0, 1.0, DOOR)
    with pytest.raises(TimelineError, match="end"):
        TimelineEvent(0.0, float("nan"), DOOR)
    with pytest.raises(TimelineError, match="line 5: .*<\\|caption\\|>"):
        TimelineEvent(0.0, 1.0, "<|sfx|> door", line=5)
    with pytest.raises(TimelineError, match="empty"):
        Timeline(())


def test_aligned_mode_refuses_an_own_timing_out_of_range(pipe, monkeypatch):
    cond = pipe.encode_prompt(SPEECH)
    monkeypatch.setattr(
        pipeline_module, "SETTINGS", dataclasses.replace(SETTINGS, max_duration_s=1.0)
    )
    with pytest.raises(ValueError, match=r"at [\d.]+ s, outside \(0, 1\] s: give the aligned"):
        pipe.align(cond)
    assert pipe.align(cond, duration_s=1.0).predicted_frames == [25]


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_half_precisions(tiny_model_dir, pipe, dtype):
    half = AudioGenPipeline.from_model_dir(tiny_model_dir, device="cpu", dtype=dtype)
    # A token's frame count is a rounded exp(): in half precision it may move by one frame,
    # which shifts the layout; with the same layout the result stays close to float32's.
    ours, ref = half.encode_prompt(SPEECH), pipe.encode_prompt(SPEECH)
    assert (ours.tensors.local_frames - ref.tensors.local_frames).abs().max() <= 1
    timed = Timeline((TimelineEvent(0.2, 0.6, DOOR),), BASE)
    for make in (
        lambda p: p.align(p.encode_prompt(SPEECH), duration_s=0.8),
        lambda p: p.encode_timeline(timed, duration_s=0.8, mode="aligned"),
    ):
        assert torch.isfinite(half.decode(half.sample(make(half), seed=2, steps=2))).all()
        layout = make(pipe)
        ours = half.decode(half.sample(layout, seed=2, steps=2))
        ref = pipe.decode(pipe.sample(layout, seed=2, steps=2))
        assert (ours - ref).abs().max() <= 0.25 * ref.abs().max()


def test_a_long_timeline_is_sampled_window_by_window_on_its_own_frames(pipe, monkeypatch):
    events = [TimelineEvent(0.5, 1.5, DOOR), TimelineEvent(2.6, 3.4, DOOR)]
    cond = pipe.encode_timeline(Timeline(events, base=BASE), duration_s=4.0, mode="aligned")
    layout = cond.tensors.time_aligned
    seen = []
    real = windows.sample

    def spy(generator, tensors, noise, *args, **kwargs):
        seen.append((tensors.time_aligned.clone(), noise.shape[-1]))
        return real(generator, tensors, noise, *args, **kwargs)

    monkeypatch.setattr(windows, "sample", spy)
    latent = pipe.sample(cond, seed=2, steps=2, window_s=2.0, overlap_s=0.4)
    assert latent.lengths.tolist() == [100]
    starts = [0, 40, 80]  # 2 s windows (50 frames), each 0.4 s (10 frames) into the last one
    assert [frames for _, frames in seen] == [50, 50, 20]
    for (window_layout, frames), start in zip(seen, starts, strict=True):
        assert torch.equal(window_layout, layout[:, start : start + frames])
