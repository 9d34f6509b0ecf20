"""The native sampling nodes without a ComfyUI: what they hand ComfyUI's samplers.

The sampling itself runs in a real ComfyUI (tests/comfyui); here the pieces are checked against
the pack's own sampler: the noise per item, the schedule, the conditioning and empty latent as
the Sampler lays its items out, one DiT call on ComfyUI's batched rows, and the latent
converters.
"""

from __future__ import annotations

import pytest
import torch
from workflow_graph import run_node

from audiogen_core.conditioning.timegrid import TimeGrid
from audiogen_core.pipeline import AudioGenPipeline
from audiogen_core.sampling.guidance import guided_velocity
from audiogen_core.sampling.latent import AudioLatent
from audiogen_core.sampling.noise import seeded_noise
from audiogen_core.sampling.schedules import denoise_schedule, sigma_schedule
from audiogen_core.sampling.settings import SETTINGS
from nodes import native
from nodes.generation import AudioGenTextEncode
from nodes.native import dit_call, keys, latents
from nodes.native.native_nodes import (
    AudioGenLatentFromComfy,
    AudioGenLatentToComfy,
    AudioGenNativeConditioning,
    AudioGenNativeModel,
    AudioGenNoise,
    AudioGenSwayScheduler,
)
from nodes.timeline_nodes import AudioGenTimedPrompt

PROMPT = "<|caption|> A dog barks in a park <|sfx|> two barks"
GRID = TimeGrid(frame_rate=25, sample_rate=16000)


@pytest.fixture(scope="module")
def cond(tiny_models):
    return run_node(AudioGenTextEncode, tiny_models["text_encoder"], tiny_models["model"], PROMPT)[
        0
    ]


def native_inputs(tiny_models, cond, duration_s=0.0, batch_size=1, time_mode="blend", **extra):
    return run_node(
        AudioGenNativeConditioning,
        tiny_models["model"],
        cond,
        duration_s,
        batch_size,
        time_mode,
        **extra,
    )


# --------------------------------------------------------------------------- noise, schedule


def test_noise_gives_item_j_the_packs_noise_for_seed_plus_j():
    source = run_node(AudioGenNoise, 41)[0]
    noise = source.generate_noise({"samples": torch.zeros(3, 8, 30)})
    assert torch.equal(noise, seeded_noise([41, 42, 43], 8, 30))
    assert source.seed == 41


def test_noise_keeps_a_picked_items_seed_and_wraps_like_the_sampler():
    picked = run_node(AudioGenNoise, 5)[0].generate_noise(
        {"samples": torch.zeros(2, 4, 10), "batch_index": [2, 0]}
    )
    assert torch.equal(picked, seeded_noise([7, 5], 4, 10))
    last = run_node(AudioGenNoise, SETTINGS.seed_modulus - 1)[0]
    wrapped = last.generate_noise({"samples": torch.zeros(2, 4, 10)})
    assert torch.equal(wrapped[1], seeded_noise([0], 4, 10)[0])


def test_noise_refuses_a_latent_of_another_shape():
    with pytest.raises(ValueError, match="batch, channels, frames"):
        run_node(AudioGenNoise, 0)[0].generate_noise({"samples": torch.zeros(1, 4, 8, 8)})


@pytest.mark.parametrize("sway", [-1.0, 0.0, 0.5])
def test_the_sway_scheduler_is_the_official_schedule_without_the_zero_size_step(sway):
    sigmas = run_node(AudioGenSwayScheduler, 25, sway, 1.0)[0]
    official = sigma_schedule(25, sway)
    assert sigmas.dtype == torch.float32 and len(sigmas) == 26
    assert torch.equal(sigmas, official[:26]) and float(sigmas[-1]) == 0.0
    assert bool((sigmas[1:] < sigmas[:-1]).all())  # no 0 / 0 step for ComfyUI's samplers


def test_the_sway_scheduler_denoises_as_the_sampler_rounds_it():
    sigmas = run_node(AudioGenSwayScheduler, 25, -1.0, 0.6)[0]
    assert torch.equal(sigmas, denoise_schedule(25, -1.0, 0.6))
    assert torch.equal(sigmas, sigma_schedule(42, -1.0)[17:43])  # round(25 / 0.6) = 42


# --------------------------------------------------------------------------- conditioning


def test_positive_negative_and_latent_are_the_samplers_inputs(tiny_models, cond):
    generator = tiny_models["model"].component
    positive, negative, latent = native_inputs(tiny_models, cond)
    frames = int(cond.tensors.latent_lengths[0])
    (context, extras), (zero, negative_extras) = positive[0], negative[0]
    assert torch.equal(context, cond.tensors.context)
    assert torch.equal(extras[keys.CONTEXT_MASK], cond.tensors.context_mask.long())
    # Text to audio: dummy_ta_embed on every frame, one vector.
    assert torch.equal(extras[keys.TIME_ALIGNED][0, 0], generator.dummy_ta_embed.detach())
    assert extras[keys.LENGTHS].tolist() == [frames] and extras[keys.FRAMES] == frames
    # The official unconditional inputs: zero context under the same mask, zero time-aligned.
    assert not zero.any() and zero.shape == context.shape
    assert torch.equal(negative_extras[keys.CONTEXT_MASK], extras[keys.CONTEXT_MASK])
    assert not negative_extras[keys.TIME_ALIGNED].any()
    assert latent["type"] == "audio"
    assert latent["samples"].shape == (1, generator.latent_dim, frames)
    assert not latent["samples"].any()


def test_a_batch_and_a_set_duration_size_the_items_as_the_sampler(tiny_models, cond):
    positive, negative, latent = native_inputs(tiny_models, cond, duration_s=1.7, batch_size=3)
    assert latent["samples"].shape[::2] == (3, 42)  # round(1.7 * 25)
    assert latent[keys.SAMPLES]["num_samples"] == [27200] * 3  # round(1.7 * 16000)
    for entry in (positive[0], negative[0]):
        assert entry[0].shape[0] == 3 and entry[1][keys.LENGTHS].tolist() == [42] * 3


def test_the_aligned_mode_carries_the_layout_per_frame(tiny_models, cond):
    positive, negative, latent = native_inputs(tiny_models, cond, time_mode="aligned")
    aligned = AudioGenPipeline(generator=tiny_models["model"].component).align(cond)
    frames = int(aligned.tensors.latent_lengths[0])
    layout = positive[0][1][keys.TIME_ALIGNED]
    assert latent["samples"].shape[-1] == frames and layout.shape[1] == frames
    assert torch.equal(layout, aligned.tensors.time_aligned[:, :frames])
    assert (
        not negative[0][1][keys.TIME_ALIGNED].any()
        and negative[0][1][keys.TIME_ALIGNED].shape == layout.shape
    )


def test_timed_prompts_become_masked_entries_whose_weights_sum_to_one(tiny_models, cond):
    timed = run_node(
        AudioGenTimedPrompt,
        tiny_models["text_encoder"],
        tiny_models["model"],
        cond,
        "<|caption|> A bird sings",
        0.2,
        0.7,
        0.1,
        0.8,
    )[0]
    positive, negative, latent = native_inputs(tiny_models, timed, duration_s=1.2)
    assert len(positive) == 2 and len(negative) == 1
    masks = torch.stack([entry[1]["mask"] for entry in positive])
    assert masks.shape == (2, 1, 30)
    torch.testing.assert_close(masks.sum(dim=0), torch.ones(1, 30))
    assert float(masks[1, 0, :5].abs().max()) == 0.0  # before 0.2 s: the base prompt alone
    assert float(masks[1].max()) == pytest.approx(0.8)  # its strength inside the range


def test_a_timed_prompt_heard_nowhere_is_left_out(tiny_models, cond):
    timed = run_node(
        AudioGenTimedPrompt,
        tiny_models["text_encoder"],
        tiny_models["model"],
        cond,
        "<|caption|> A bird sings",
        0.2,
        0.7,
        0.0,
        0.0,
    )[0]
    positive, _, _ = native_inputs(tiny_models, timed, duration_s=1.2)
    assert len(positive) == 1 and "mask" not in positive[0][1]


def test_a_negative_prompt_is_sampled_at_the_positives_lengths(tiny_models, cond):
    other = run_node(
        AudioGenTextEncode,
        tiny_models["text_encoder"],
        tiny_models["model"],
        "<|caption|> Heavy rain on a tin roof, thunder far away",
    )[0]
    positive, negative, _ = native_inputs(
        tiny_models, cond, duration_s=1.0, batch_size=2, negative_conditioning=other
    )
    context, extras = negative[0]
    assert context.shape[0] == 2 and torch.equal(context[1], other.tensors.context[0])
    assert extras[keys.LENGTHS].tolist() == positive[0][1][keys.LENGTHS].tolist() == [25, 25]


def test_a_negative_with_timed_prompts_is_refused_naming_the_node(tiny_models, cond):
    timed = run_node(
        AudioGenTimedPrompt,
        tiny_models["text_encoder"],
        tiny_models["model"],
        cond,
        "<|caption|> A bird sings",
        0.2,
        0.7,
        0.0,
        1.0,
    )[0]
    with pytest.raises(ValueError, match=r"^AudioGen Conditioning \(native\): .*negative prompt"):
        native_inputs(tiny_models, cond, negative_conditioning=timed)


# --------------------------------------------------------------------------- one DiT call


def _inputs(entries):
    """The DiT inputs of ComfyUI's batch of these entries' rows, in order."""
    return dit_call.dit_inputs(
        torch.cat([e[0] for e in entries]),
        {
            name: torch.cat([e[1][name] for e in entries])
            for name in (keys.CONTEXT_MASK, keys.TIME_ALIGNED, keys.LENGTHS)
        },
    )


@pytest.mark.parametrize("time_mode", ["blend", "aligned"])
def test_one_call_on_comfyuis_rows_gives_the_samplers_guided_velocity(tiny_models, cond, time_mode):
    generator = tiny_models["model"].component
    pipe = AudioGenPipeline(generator=generator)
    positive, negative, latent = native_inputs(tiny_models, cond, batch_size=2, time_mode=time_mode)
    frames = latent["samples"].shape[-1]
    items = pipe.apply_time_mode(cond, time_mode).tensors.expand(2)
    items = items.with_lengths(positive[0][1][keys.LENGTHS])
    x = torch.randn(2, generator.latent_dim, frames, generator=torch.Generator().manual_seed(3))
    sigma = 0.734
    expected = guided_velocity(generator, items, frames, 5.0)(x, torch.tensor(sigma * 1000))
    # ComfyUI batches the positive and negative rows into one call.
    out = dit_call.velocity(
        generator,
        torch.cat([x, x]),
        torch.full((4,), sigma * 1000),
        _inputs([positive[0], negative[0]]),
    )
    conditioned, unconditioned = out.float().chunk(2)
    guided = unconditioned + (conditioned - unconditioned) * 5.0
    torch.testing.assert_close(guided, expected, rtol=1e-5, atol=1e-5)


def test_rows_at_different_timesteps_are_each_truncated_like_the_reference(tiny_models, cond):
    generator = tiny_models["model"].component
    positive, _, latent = native_inputs(tiny_models, cond, batch_size=2)
    x = torch.randn(2, generator.latent_dim, latent["samples"].shape[-1])
    inputs = _inputs(positive)
    both = dit_call.velocity(generator, x, torch.tensor([734.6, 210.2]), inputs)
    for row, timestep in ((0, 734.0), (1, 210.0)):
        alone = type(inputs)(*(t[row : row + 1] for t in inputs))
        single = dit_call.velocity(generator, x[row : row + 1], torch.tensor([timestep]), alone)
        torch.testing.assert_close(both[row : row + 1], single, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- latents


def test_latents_convert_both_ways_with_lengths_and_noise_mask():
    latent = AudioLatent(
        latent=torch.randn(2, 8, 20),
        lengths=torch.tensor([20, 13]),
        num_samples=[12700, 8320],
        frame_rate=25,
        sample_rate=16000,
        noise_mask=torch.tensor([[0.0] * 5 + [1.0] * 15]),
    )
    comfy = run_node(AudioGenLatentToComfy, latent)[0]
    assert comfy["type"] == "audio" and torch.equal(comfy["samples"], latent.latent)
    assert comfy["noise_mask"].shape == (1, 1, 20)  # what ComfyUI interpolates for 1-D latents
    back = run_node(AudioGenLatentFromComfy, comfy)[0]
    assert torch.equal(back.latent, latent.latent) and back.num_samples == latent.num_samples
    assert back.lengths.tolist() == [20, 13]
    assert torch.equal(back.noise_mask, latent.noise_mask)


def test_a_latent_cut_or_joined_by_comfyui_decodes_whole():
    made = latents.empty(1, 8, 42, [27200], GRID)
    joined = dict(made, samples=torch.cat([made["samples"], made["samples"]], dim=-1))
    back = latents.from_comfy(joined, GRID)
    assert back.num_samples == [84 * 640] and back.lengths.tolist() == [84]
    assert latents.from_comfy(made, GRID).num_samples == [27200]


def test_a_latent_of_another_kind_is_refused_naming_the_node():
    with pytest.raises(ValueError, match=r"^AudioGen LATENT to Latent: .*not AudioGen latent"):
        run_node(AudioGenLatentFromComfy, {"samples": torch.zeros(1, 4, 64, 64)})


# --------------------------------------------------------------------------- outside ComfyUI


def test_outside_comfyui_the_sampling_side_is_the_dit(tiny_models):
    generator = tiny_models["model"].component
    assert native.sampling_module(generator) is generator.backbone


def test_the_native_model_needs_comfyui(tiny_models):
    with pytest.raises(ValueError, match=r"^AudioGen Model \(native\): .*only inside ComfyUI"):
        run_node(AudioGenNativeModel, tiny_models["model"])
