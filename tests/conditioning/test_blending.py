"""Blended prompts (the blend time mode): per-frame weights from seconds, how they combine,
the exactness identities on the tiny model, edits and long clips."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from audiogen_core.conditioning.blending import blend_weights, event_weights
from audiogen_core.conditioning.encoded import TimedPromptTensors
from audiogen_core.conditioning.timegrid import TimeGrid
from audiogen_core.conditioning.timeline import Timeline, TimelineError, TimelineEvent
from audiogen_core.sampling import editing, windows
from audiogen_core.sampling.guidance import guided_velocity

GRID = TimeGrid(frame_rate=25, sample_rate=16000)
BASE = "<|caption|> rain on a roof"
DOOR = "<|caption|> a heavy door slams <|sfx|> a heavy door slams"
DOG = "<|caption|> a dog barks twice"


def _event(start, end, fade=0.0, strength=1.0, prompt=DOOR, line=None):
    return TimelineEvent(start, end, prompt, line=line, fade_s=fade, strength=strength)


# ---------------------------------------------------------------- weights, no model


def test_ranges_in_seconds_map_to_frames_on_the_grid():
    raw = event_weights(GRID, 125, [_event(2.0, 3.0), _event(0.5, None)])
    assert raw.shape == (2, 125) and raw.dtype == torch.float32
    assert raw[0].nonzero().flatten().tolist() == list(range(50, 75))  # [2.0, 3.0) s
    assert raw[1].nonzero().flatten().tolist() == list(range(12, 125))  # 0.5 s rounds to 12
    assert set(raw.unique().tolist()) == {0.0, 1.0}


def test_fades_are_symmetric_ramps_inside_the_range_and_exact_beyond():
    weights = event_weights(GRID, 125, [_event(2.0, 3.0, fade=0.2)])[0]
    ramp = torch.arange(1, 6, dtype=torch.float32) / 6  # 0.2 s = 5 frames
    assert torch.equal(weights[50:55], ramp)
    assert torch.equal(weights[70:75], ramp.flip(0))
    outside = torch.cat([weights[:50], weights[75:]])
    assert torch.equal(outside, torch.zeros_like(outside))
    assert torch.equal(weights[55:70], torch.ones(15))
    # An open end reaches the clip's end, where there is nothing to fade into.
    tail = event_weights(GRID, 125, [_event(4.0, None, fade=0.2)])[0]
    assert torch.equal(tail[100:105], ramp) and torch.equal(tail[105:], torch.ones(20))


def test_blend_weights_rule():
    raw = event_weights(
        GRID,
        100,
        [_event(0.4, 2.0), _event(1.2, 3.2, strength=0.5), _event(2.8, 3.6, prompt=DOG)],
    )
    blend = blend_weights(raw)
    assert blend.shape == (4, 100)
    assert torch.allclose(blend.sum(dim=0), torch.ones(100), atol=1e-6)
    base, door, half, dog = blend
    # No range: exactly the base prompt; one full range alone: exactly that prompt.
    assert torch.equal(base[:10], torch.ones(10)) and torch.equal(base[90:], torch.ones(10))
    assert torch.equal(door[10:30], torch.ones(20)) and torch.equal(base[10:30], torch.zeros(20))
    # Strength 0.5 alone: half that prompt, half the base prompt.
    assert torch.equal(half[50:70], torch.full((20,), 0.5))
    assert torch.equal(base[50:70], torch.full((20,), 0.5))
    # Overlap above 1: shared in proportion to the raw weights, nothing left for the base.
    assert torch.allclose(door[30:50], torch.full((20,), 2 / 3))
    assert torch.allclose(half[30:50], torch.full((20,), 1 / 3))
    assert torch.equal(base[30:50], torch.zeros(20))
    assert torch.allclose(dog[70:80], torch.full((10,), 2 / 3))
    # Beyond the fades every weight is exactly 0 or 1 for full-strength events.
    faded = blend_weights(event_weights(GRID, 100, [_event(1.0, 2.0, fade=0.12)]))
    edges = torch.zeros(100, dtype=torch.bool)
    edges[25:28] = edges[47:50] = True
    assert set(faded[:, ~edges].unique().tolist()) == {0.0, 1.0}
    assert not bool(((faded[:, edges] == 0) | (faded[:, edges] == 1)).any())


def test_event_checks_name_the_event():
    with pytest.raises(TimelineError, match="line 3: .*starts at or after the end"):
        event_weights(GRID, 50, [_event(2.5, None, line=3)])
    with pytest.raises(TimelineError, match="line 4: event 1-3 s: range .* outside the clip"):
        event_weights(GRID, 50, [_event(1.0, 3.0, line=4)])
    with pytest.raises(TimelineError, match="fade .* longer than half"):
        _event(1.0, 1.2, fade=0.2)
    with pytest.raises(TimelineError, match=r"strength 1.5 must be a number in \[0, 1\]"):
        _event(1.0, 2.0, strength=1.5)
    with pytest.raises(TimelineError, match="fade -1"):
        _event(1.0, 2.0, fade=-1)


# ---------------------------------------------------------------- the tiny model


def _timeline(*events):
    return Timeline(tuple(events), BASE)


def test_a_whole_clip_range_at_full_strength_is_plain_generation_bitwise(pipe):
    plain = pipe.sample(pipe.encode_prompt(DOOR), seed=3, steps=3, duration_s=1.2, variations=2)
    for event in (_event(0.0, None), _event(0.0, 1.2), _event(0.0, 1.2, fade=0.2)):
        cond = pipe.encode_timeline(_timeline(event), duration_s=1.2)
        timed = pipe.sample(cond, seed=3, steps=3, variations=2)
        assert torch.equal(timed.latent, plain.latent), event
    # The same holds without guidance.
    plain = pipe.sample(pipe.encode_prompt(DOOR), seed=3, steps=2, duration_s=1.2, guidance=1.0)
    cond = pipe.encode_timeline(_timeline(_event(0.0, None)), duration_s=1.2)
    assert torch.equal(pipe.sample(cond, seed=3, steps=2, guidance=1.0).latent, plain.latent)


def test_ranges_that_cover_nothing_leave_the_base_output_unchanged(pipe):
    plain = pipe.sample(pipe.encode_prompt(BASE), seed=1, steps=3, duration_s=1.2)
    silent = pipe.encode_timeline(_timeline(_event(0.2, 0.8, strength=0.0)), duration_s=1.2)
    assert torch.equal(pipe.sample(silent, seed=1, steps=3).latent, plain.latent)
    # A timeline of no events is the base prompt alone.
    alone = pipe.encode_timeline(Timeline((), BASE), duration_s=1.2)
    assert torch.equal(pipe.sample(alone, seed=1, steps=3).latent, plain.latent)


def test_a_range_changes_its_own_frames_most(pipe):
    base = pipe.sample(pipe.encode_prompt(BASE), seed=0, steps=3, duration_s=1.2).latent
    door = pipe.sample(pipe.encode_prompt(DOOR), seed=0, steps=3, duration_s=1.2).latent
    cond = pipe.encode_timeline(_timeline(_event(0.4, 0.8)), duration_s=1.2)
    mixed = pipe.sample(cond, seed=0, steps=3).latent
    to_base = (mixed - base).abs().amax(dim=1)[0]
    to_door = (mixed - door).abs().amax(dim=1)[0]
    inside = torch.zeros(30, dtype=torch.bool)
    inside[10:20] = True
    # Inside the range the result follows the door prompt, outside the base prompt (the
    # frames still hear each other through self-attention, so neither is exact).
    assert to_door[inside].mean() < 0.5 * to_base[inside].mean()
    assert to_base[~inside].mean() < 0.5 * to_door[~inside].mean()


@pytest.mark.parametrize("guidance", [4.0, 1.0])
def test_the_blended_velocity_is_the_weighted_mix_of_guided_velocities(pipe, guidance):
    generator = pipe.generator
    frames = 30
    base = pipe.encode_prompt(BASE).tensors
    base = dataclasses.replace(base, latent_lengths=torch.tensor([frames]))
    door, dog = (pipe.encode_prompt(p).tensors for p in (DOOR, DOG))
    raw = event_weights(GRID, frames, [_event(0.2, 0.8, fade=0.12), _event(0.6, 1.2, prompt=DOG)])
    weights = blend_weights(raw)
    cond = dataclasses.replace(base, timed=TimedPromptTensors((door, dog), weights[None]))
    x = torch.randn(1, generator.latent_dim, frames, generator=torch.Generator().manual_seed(0))
    timestep = torch.tensor(700.0)
    blended = guided_velocity(generator, cond, frames, guidance)(x, timestep)
    expected = torch.zeros_like(x)
    for row, prompt in zip(weights, (base, door, dog), strict=True):
        alone = dataclasses.replace(prompt, latent_lengths=torch.tensor([frames]))
        expected += row * guided_velocity(generator, alone, frames, guidance)(x, timestep)
    scale = expected.abs().max()
    assert (blended - expected).abs().max() <= 1e-5 * scale


def test_regenerating_a_range_with_a_prompt_that_holds_only_there(pipe):
    source = pipe.sample(pipe.encode_prompt(BASE), seed=5, steps=3, duration_s=1.6)
    marked = editing.regenerate_range(source, 0.4, 1.0, fade_s=0.08)
    cond = pipe.encode_timeline(_timeline(_event(0.4, 1.0)))
    edited = pipe.sample(cond, seed=9, steps=3, init=marked)
    same_prompt = pipe.sample(pipe.encode_prompt(BASE), seed=9, steps=3, init=marked)
    keep = marked.noise_mask[0] == 0
    assert torch.equal(edited.latent[..., keep], source.latent[..., keep])
    assert not torch.equal(edited.latent[..., ~keep], same_prompt.latent[..., ~keep])
    # Times are seconds of the init's clip: a range past its end is refused before sampling.
    late = pipe.encode_timeline(_timeline(_event(1.0, 2.0, line=2)))
    with pytest.raises(TimelineError, match="line 2: .*outside the clip"):
        pipe.sample(late, seed=9, steps=3, init=marked)


def test_ranges_hold_in_absolute_seconds_across_windows(pipe, monkeypatch):
    # 2.0 s in windows of 1.0 s overlapping by 0.4 s: windows start at frames 0, 15, 30.
    settings = dict(seed=2, steps=2, window_s=1.0, overlap_s=0.4)
    event = _event(1.5, None, fade=0.12)
    cond = pipe.encode_timeline(_timeline(event), duration_s=2.0)
    expected = blend_weights(event_weights(GRID, 50, [event]))
    seen = []
    sample = windows.sample

    def spy(generator, local, noise, **kwargs):
        seen.append(local.timed.weights[0].clone())
        return sample(generator, local, noise, **kwargs)

    monkeypatch.setattr(windows, "sample", spy)
    timed = pipe.sample(cond, **settings).latent
    monkeypatch.undo()
    assert [w.shape[-1] for w in seen] == [25, 25, 20]
    for weights, start in zip(seen, (0, 15, 30), strict=True):
        assert torch.equal(weights, expected[:, start : start + weights.shape[-1]])
    # The first window holds no event frame: it is the base prompt's, bitwise (the second
    # window keeps its frames up to 20 exactly and regenerates the rest of the overlap).
    plain = pipe.sample(pipe.encode_prompt(BASE), duration_s=2.0, **settings).latent
    assert torch.equal(timed[..., :20], plain[..., :20])
    assert not torch.equal(timed[..., 37:], plain[..., 37:])


def test_time_mode_entry_point_and_its_errors(pipe):
    timeline = _timeline(_event(0.4, 0.8, fade=0.08), _event(0.2, None, prompt=DOG))
    blend = pipe.encode_timeline(timeline, duration_s=1.2)
    assert blend.prompts == [BASE] and blend.predicted_frames == [30]
    assert [t.event.prompt for t in blend.timed] == [DOOR, DOG]
    assert blend.tensors.time_aligned is None
    # Without a duration the clip lasts until the latest event ends (as in the aligned mode).
    own_dog = pipe.encode_prompt(DOG).predicted_frames[0]
    assert pipe.encode_timeline(timeline).predicted_frames == [max(20, 5 + own_dog)]
    audio = pipe.decode(pipe.sample(blend, seed=0, steps=2))
    assert audio.shape == (1, 1, 30 * 640) and torch.isfinite(audio).all()
    with pytest.raises(TimelineError, match="fade or a strength .* blend"):
        pipe.encode_timeline(timeline, mode="aligned")
    with pytest.raises(TimelineError, match="needs a base prompt"):
        pipe.encode_timeline(Timeline((_event(0.2, 0.4),)), mode="blend")
    with pytest.raises(ValueError, match="mode must be one of blend, aligned"):
        pipe.encode_timeline(timeline, mode="mixed")
    aligned = pipe.align(pipe.encode_prompt(BASE))
    with pytest.raises(ValueError, match="use one time mode"):
        pipe.add_timed_prompts(aligned, _event(0.0, 0.4))
    # Chaining timed prompts onto any conditioning (what a node does).
    chained = pipe.add_timed_prompts(pipe.encode_prompt([BASE, DOG]), _event(0.0, 0.4))
    chained = pipe.add_timed_prompts(chained, [_event(0.4, 0.8, prompt=DOG)])
    assert len(chained.timed) == 2 and chained.batch_size == 2
    latent = pipe.sample(chained, seed=0, steps=2, duration_s=1.0, variations=2)
    assert latent.latent.shape[0] == 4 and torch.isfinite(latent.latent).all()


def test_a_sampler_mode_option_turns_timed_prompts_into_the_aligned_layout(pipe):
    event = _event(0.4, 0.8)
    cond = pipe.add_timed_prompts(pipe.encode_prompt(BASE), event)
    assert pipe.apply_time_mode(cond, "blend") is cond
    aligned = pipe.apply_time_mode(cond, "aligned", duration_s=1.2)
    same = pipe.encode_timeline(_timeline(event), duration_s=1.2, mode="aligned")
    assert aligned.prompts == same.prompts and aligned.timed == ()
    for field in ("time_aligned", "context", "context_mask", "latent_lengths"):
        assert torch.equal(getattr(aligned.tensors, field), getattr(same.tensors, field)), field
    assert pipe.apply_time_mode(aligned, "aligned") is aligned
    # Without timed prompts: the model's own timing of the prompt.
    plain = pipe.encode_prompt(DOOR)
    own = pipe.apply_time_mode(plain, "aligned")
    assert torch.equal(own.tensors.time_aligned, pipe.align(plain).tensors.time_aligned)
    two = pipe.add_timed_prompts(pipe.encode_prompt([BASE, DOG]), event)
    with pytest.raises(ValueError, match="one base prompt, but this conditioning holds 2"):
        pipe.apply_time_mode(two, "aligned")
    faded = pipe.add_timed_prompts(pipe.encode_prompt(BASE), _event(0.4, 0.8, fade=0.08))
    with pytest.raises(TimelineError, match="fade or a strength"):
        pipe.apply_time_mode(faded, "aligned")
