"""Start from audio, regenerate ranges, extend: the identities of the editing mathematics.

No reference implementation exists for these, so the tests pin exact identities of the
sampler on the tiny model: denoise 1 without init is plain generation bitwise, an all-1 mask
is plain generation at the init's length, an all-0 mask returns the init, kept frames equal
the init exactly, lengths are exact to the sample.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from audiogen_core.conditioning.timegrid import TimeGrid, range_weights
from audiogen_core.sampling.editing import extend, regenerate_range
from audiogen_core.sampling.euler import euler_sample
from audiogen_core.sampling.guidance import dit_inputs
from audiogen_core.sampling.latent import AudioLatent
from audiogen_core.sampling.noise import seeded_noise
from audiogen_core.sampling.sampler import sample
from audiogen_core.sampling.schedules import denoise_schedule, evaluated_steps, sigma_schedule

PROMPT = "<|caption|> A dog barks in a park <|sfx|> bark"
GRID = TimeGrid(frame_rate=25, sample_rate=16000)


@pytest.fixture(scope="module")
def cond(pipe):
    return pipe.encode_prompt(PROMPT)


@pytest.fixture(scope="module")
def clip(pipe, cond):
    """A 3 s latent to edit: a generation from another seed and prompt."""
    other = pipe.encode_prompt("<|caption|> rain on a tin roof")
    return pipe.sample(other, seed=99, steps=3, duration_s=3.0)


def _as_init(latent: AudioLatent, mask: torch.Tensor | None = None) -> AudioLatent:
    return dataclasses.replace(latent, seeds=None, noise_mask=mask)


# ---------------------------------------------------------------- schedules


@pytest.mark.parametrize("sway", [-1.0, 0.0, -0.5])
def test_denoise_one_keeps_every_step_of_the_schedule(sway):
    full = sigma_schedule(7, sway)
    kept = denoise_schedule(7, sway, 1.0)
    steps = evaluated_steps(full)
    assert evaluated_steps(kept) == steps
    assert torch.equal(kept, full[: len(steps) + 1])


def test_partial_denoise_runs_the_last_steps_of_a_longer_schedule():
    # linear: round(4 / 0.5) = 8 steps 1, 7/8, ..., 1/8, 0; the last 4 start at 4/8.
    sigmas = denoise_schedule(4, 0.0, 0.5)
    assert torch.equal(sigmas, torch.tensor([4, 3, 2, 1, 0], dtype=torch.float32) / 8)
    # sway: the same points of the 42-step schedule (25 / 0.6 = 41.7 -> 42)
    sway = denoise_schedule(25, -1.0, 0.6)
    assert torch.equal(sway, sigma_schedule(42, -1.0)[17:43])
    assert len(evaluated_steps(sway)) == 25 and float(sway[-1]) == 0.0


@pytest.mark.parametrize("denoise", [0.0, -0.1, 1.5, float("nan")])
def test_denoise_outside_zero_one_is_refused(denoise):
    with pytest.raises(ValueError, match="denoise"):
        denoise_schedule(10, -1.0, denoise)


# ---------------------------------------------------------------- the identities


def test_denoise_one_without_init_is_todays_output_bitwise(pipe, cond):
    # Today's sampler written out: the full sway schedule, CFG velocity, plain Euler loop.
    generator = pipe.generator
    gen_cond = dataclasses.replace(cond.tensors, latent_lengths=torch.tensor([40]))
    constants = generator.prepare(dit_inputs(generator, gen_cond, 40, True), 40)

    def velocity(x, timestep):
        out = generator.backbone.velocity(torch.cat([x, x]), timestep, constants)
        uncond, conditioned = out.float().chunk(2)
        return uncond + 5.0 * (conditioned - uncond)

    noise = seeded_noise([5], generator.latent_dim, 40)
    with torch.inference_mode():
        today = euler_sample(velocity, noise, sigma_schedule(4, -1.0))
    latent = pipe.sample(cond, seed=5, steps=4, duration_s=1.6, denoise=1.0)
    assert torch.equal(latent.latent, today)


def test_all_one_mask_is_plain_generation_at_the_inits_length(pipe, cond, clip):
    plain = pipe.sample(cond, seed=3, steps=4, duration_s=3.0)
    ones = torch.ones(1, clip.latent.shape[-1])
    edited = pipe.sample(cond, seed=3, steps=4, init=_as_init(clip, ones))
    assert torch.equal(edited.latent, plain.latent)
    no_mask = pipe.sample(cond, seed=3, steps=4, init=_as_init(clip))
    assert torch.equal(no_mask.latent, plain.latent)
    assert edited.num_samples == clip.num_samples == [48000]


def test_all_zero_mask_returns_the_init_unchanged(pipe, cond, clip):
    zeros = torch.zeros(1, clip.latent.shape[-1])
    # The sampler itself: every step resets the frames to the noised init, sigma 0 is the init.
    direct = sample(
        pipe.generator,
        cond.tensors,
        seeded_noise([1], pipe.generator.latent_dim, clip.latent.shape[-1]),
        steps=4,
        init=clip.latent,
        noise_mask=zeros,
    )
    assert torch.equal(direct, clip.latent)
    # The pipeline does not even sample a window with nothing to regenerate.
    calls = []
    result = pipe.sample(
        cond, seed=1, steps=4, init=_as_init(clip, zeros), callback=lambda s, t: calls.append(s)
    )
    assert torch.equal(result.latent, clip.latent) and calls == []


def test_regenerated_range_changes_and_kept_frames_stay_exactly(pipe, cond, clip):
    init = regenerate_range(_as_init(clip), 1.0, 2.0, fade_s=0.2)
    mask = init.noise_mask[0]
    assert mask[:25].eq(0).all() and mask[30:45].eq(1).all() and mask[50:].eq(0).all()
    assert 0 < mask[26] < mask[28] < 1  # the fade inside the range
    result = pipe.sample(cond, seed=11, steps=4, init=init)
    kept = mask == 0
    assert torch.equal(result.latent[..., kept], clip.latent[..., kept])
    changed = (result.latent[..., mask == 1] - clip.latent[..., mask == 1]).abs().mean()
    assert changed > 0.1 * clip.latent.abs().mean()
    assert result.num_samples == clip.num_samples
    again = pipe.sample(cond, seed=11, steps=4, init=init)
    other = pipe.sample(cond, seed=12, steps=4, init=init)
    assert torch.equal(again.latent, result.latent)
    assert not torch.equal(other.latent, result.latent)


def test_soft_mask_frames_lie_between_the_init_and_a_full_regeneration(pipe, cond, clip):
    # With a mask of 0.5 everywhere and one Euler step from sigma 1 (linear schedule), the
    # result is exactly half the step's result plus half the init.
    frames = clip.latent.shape[-1]
    half = _as_init(clip, torch.full((1, frames), 0.5))
    soft = pipe.sample(cond, seed=2, steps=1, sway=0.0, init=half)
    full = pipe.sample(cond, seed=2, steps=1, sway=0.0, init=_as_init(clip))
    torch.testing.assert_close(soft.latent, 0.5 * full.latent + 0.5 * clip.latent)


def test_small_denoise_stays_near_the_init_and_denoise_one_ignores_it(pipe, cond, clip):
    near = pipe.sample(cond, seed=4, steps=1, sway=0.0, init=_as_init(clip), denoise=0.02)
    far = pipe.sample(cond, seed=4, steps=1, sway=0.0, init=_as_init(clip), denoise=1.0)
    scale = clip.latent.abs().max()
    assert (near.latent - clip.latent).abs().max() < 0.1 * scale
    assert (far.latent - clip.latent).abs().max() > 0.3 * scale


def test_variations_of_an_edit_are_batched_and_each_can_be_remade_alone(pipe, cond, clip):
    init = regenerate_range(_as_init(clip), 0.5, 1.5)
    batch = pipe.sample(cond, seed=20, steps=3, init=init, variations=3)
    assert batch.seeds == [20, 21, 22] and batch.latent.shape[0] == 3
    kept = init.noise_mask[0] == 0
    for item in batch.latent:
        assert torch.equal(item[..., kept], clip.latent[0][..., kept])
    alone = pipe.sample(cond, seed=21, steps=3, init=init)
    torch.testing.assert_close(batch.latent[1:2], alone.latent, rtol=1e-4, atol=1e-5)


def test_extend_lengths_are_exact_to_the_sample(pipe, cond, clip):
    longer = extend(_as_init(clip), before_s=0.5, after_s=1.013)
    # before snaps to the grid: 12.5 -> 12 frames (round half to even) = 7680 samples
    assert longer.num_samples == [7680 + 48000 + 16208]
    assert longer.latent.shape[-1] == 12 + 75 + 26  # 16208 samples need 26 frames
    mask = longer.noise_mask[0]
    assert mask[:12].eq(1).all() and mask[12:87].eq(0).all() and mask[87:].eq(1).all()
    result = pipe.sample(cond, seed=6, steps=3, init=longer)
    assert torch.equal(result.latent[..., 12:87], clip.latent)
    audio = pipe.decode(result)
    assert audio.shape == (1, 1, 7680 + 48000 + 16208)
    assert audio[0, 0, -2000:].abs().max() > 0  # generated, not silence


def test_regenerate_and_extend_chain(pipe, clip):
    both = regenerate_range(regenerate_range(_as_init(clip), 0.2, 0.6), 2.0, 2.4)
    assert int(both.noise_mask.sum()) == 20
    extended = extend(both, after_s=1.0)
    assert int(extended.noise_mask.sum()) == 20 + 25


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "start, end, fade, match",
    [
        (2.0, 4.0, 0.0, "outside the clip"),
        (-0.5, 1.0, 0.0, "outside the clip"),
        (2.0, 2.0, 0.0, "start_s 2 must be before end_s 2"),
        (2.5, 1.0, 0.0, "before end_s"),
        (1.0, 1.01, 0.0, "shorter than one latent frame"),
        (1.0, 2.0, 0.6, "fade_s"),
        (1.0, 2.0, -0.1, "fade_s"),
        (float("nan"), 2.0, 0.0, "start_s"),
    ],
)
def test_bad_ranges_name_the_parameter(clip, start, end, fade, match):
    with pytest.raises(ValueError, match=match):
        regenerate_range(clip, start, end, fade)


def test_bad_extensions_name_the_parameter(clip):
    with pytest.raises(ValueError, match="before_s"):
        extend(clip, before_s=-1.0)
    with pytest.raises(ValueError, match="before_s"):
        extend(clip, before_s=0.01)
    with pytest.raises(ValueError, match="after_s"):
        extend(clip, after_s=float("nan"))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"denoise": 0.0}, "denoise"),
        ({"denoise": 1.2}, "denoise"),
        ({"denoise": 0.5, "use_init": False}, "needs an init"),
        ({"duration_s": 2.0}, "duration_s and init"),
    ],
)
def test_bad_edit_arguments_name_the_parameter(pipe, cond, clip, kwargs, match):
    init = _as_init(clip) if kwargs.pop("use_init", True) else None
    with pytest.raises(ValueError, match=match):
        pipe.sample(cond, steps=1, init=init, **kwargs)


def test_init_from_another_model_size_is_refused(pipe, cond, clip):
    wide = dataclasses.replace(clip, latent=torch.zeros(1, 2 * clip.latent.shape[1], 75))
    with pytest.raises(ValueError, match="another model size"):
        pipe.sample(cond, steps=1, init=wide)
    with pytest.raises(ValueError, match="noise_mask"):
        pipe.sample(cond, steps=1, init=_as_init(clip, torch.ones(1, 10)))


def test_range_weights_on_the_grid():
    weights = range_weights(GRID, 100, 1.0, 2.0, fade_s=0.12)
    assert weights[:25].eq(0).all() and weights[50:].eq(0).all()
    assert weights[25:28].tolist() == pytest.approx([0.25, 0.5, 0.75])
    assert weights[28:47].eq(1).all()
    assert weights[47:50].tolist() == pytest.approx([0.75, 0.5, 0.25])
    # no ramp where the range touches the clip's ends
    edge = range_weights(GRID, 100, 0.0, 4.0, fade_s=0.4)
    assert edge.eq(1).all()
