"""Tests of the generator beyond the golden cases: the full-size checkpoint layout, the cached
sampler against a step-by-step reference loop, reduced precisions, determinism, progress and
cancellation, conditioning helpers and input errors."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from golden_checks.generator import load_generator
from golden_io import SHIPPED_GOLDEN_DIR, first_case

from audiogen_core.models.adapter import frames_mask
from audiogen_core.models.derived_buffers import reset_derived_buffers
from audiogen_core.models.generator import DashengAudioGenerator, GeneratorConditioning
from audiogen_core.sampling.schedules import sigma_schedule, timesteps_from_sigmas

MANIFEST = json.loads((SHIPPED_GOLDEN_DIR / "manifest_generator.json").read_text())
FULL_SIZE_PARAMETERS = 2_185_498_626


@pytest.fixture(scope="module")
def case_c():
    return first_case("case_c_")


@pytest.fixture(scope="module")
def model(case_c):
    return load_generator(case_c)


@pytest.fixture(scope="module")
def cond(model, case_c):
    return model.condition(case_c.inputs["t5_hidden"], case_c.inputs["t5_mask"])


def test_full_size_layout_matches_the_official_checkpoint():
    with torch.device("meta"):
        full = DashengAudioGenerator.from_config(MANIFEST["config"])
    ours = [
        (k, list(v.shape), str(v.dtype).removeprefix("torch."))
        for k, v in full.state_dict().items()
    ]
    official = [(e["key"], e["shape"], e["dtype"]) for e in MANIFEST["keys"]]
    assert ours == official
    assert sum(p.numel() for p in full.parameters()) == FULL_SIZE_PARAMETERS
    assert all(p.is_meta for p in full.parameters())
    assert (full.latent_dim, full.sample_rate, full.frame_rate) == (1280, 16000, 25)


def test_fixture_weights_cover_every_key_but_dummy_param(model, case_c):
    assert set(model.state_dict()) - set(case_c.weights) == {"dummy_param"}


def _reference_loop(model, cond, noise, steps, scale, sway):
    """The reference's loop: full forward per step, per-frame time-aligned input, no skips."""
    batch, frames = noise.shape[0], noise.shape[-1]
    x_mask = frames_mask(cond.latent_lengths, frames)
    ta = model.dummy_ta_embed.detach().expand(batch, frames, -1)
    context, context_mask = cond.context, cond.context_mask
    if scale > 1.0:
        ta, context = torch.cat([torch.zeros_like(ta), ta]), torch.cat([0 * context, context])
        context_mask, x_mask = torch.cat([context_mask] * 2), torch.cat([x_mask] * 2)
    sigmas = sigma_schedule(steps, sway)
    x = noise
    for k, t in enumerate(timesteps_from_sigmas(sigmas)):
        x_in = torch.cat([x, x]) if scale > 1.0 else x
        with torch.no_grad():
            v = model.backbone(x_in, t, ta, context, x_mask, context_mask)
        if scale > 1.0:
            uncond, conditioned = v.chunk(2)
            v = uncond + scale * (conditioned - uncond)
        x = x + (sigmas[k + 1] - sigmas[k]) * v
    return x


@pytest.mark.parametrize(("scale", "sway"), [(4.0, -1.0), (1.0, -0.5), (2.0, 0.0)])
def test_cached_sampler_matches_the_reference_loop(model, cond, case_c, scale, sway):
    noise = case_c.inputs["noise"]
    expected = _reference_loop(model, cond, noise, 3, scale, sway)
    ours = model.sample(cond, noise, steps=3, guidance=scale, sway=sway)
    assert (ours - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_sampling_is_deterministic(model, cond, case_c):
    noise = case_c.inputs["noise"]
    first = model.sample(cond, noise, steps=2)
    assert torch.equal(first, model.sample(cond, noise, steps=2))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_sampling_stays_close(model, cond, case_c, dtype):
    noise = case_c.inputs["noise"]
    reference = model.sample(cond, noise, steps=3, guidance=3.0)
    low = load_generator(case_c).to(dtype)
    low_cond = low.condition(case_c.inputs["t5_hidden"], case_c.inputs["t5_mask"])
    assert torch.equal(low_cond.latent_lengths, cond.latent_lengths)
    out = low.sample(low_cond, noise, steps=3, guidance=3.0)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert (out - reference).abs().max() <= 5e-2 * reference.abs().max()


def test_progress_and_cancellation(model, cond, case_c):
    noise = case_c.inputs["noise"]
    progress = []
    model.sample(cond, noise, steps=3, callback=lambda s, t: progress.append((s, t)))
    assert progress == [(1, 3), (2, 3), (3, 3)]  # sway: the final zero step is not evaluated

    def cancel(step, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.sample(cond, noise, steps=3, callback=cancel)


def test_user_duration_replaces_the_predicted_length(model, cond):
    lengths = torch.full_like(cond.latent_lengths, 5)
    short = dataclasses.replace(cond, latent_lengths=lengths)
    noise = torch.randn(cond.batch_size, model.latent_dim, 5)
    out = model.sample(short, noise, steps=2)
    assert out.shape == noise.shape and torch.isfinite(out).all()


def test_conditioning_helpers(cond):
    assert cond.global_duration_log.dtype == torch.float32
    assert cond.latent_lengths.dtype == torch.int64
    assert cond.context_mask.dtype == torch.bool
    assert cond.context.shape[1] == int(cond.context_mask.sum(dim=1).max())
    doubled = cond.expand(2)
    assert doubled.batch_size == 2 * cond.batch_size
    order = torch.arange(cond.batch_size).repeat_interleave(2)
    assert cond.time_aligned is None and doubled.time_aligned is None
    for field in dataclasses.fields(GeneratorConditioning):
        if field.name not in ("time_aligned", "timed"):
            assert torch.equal(getattr(doubled, field.name), getattr(cond, field.name)[order])
    assert cond.to("cpu").context.device.type == "cpu"
    with pytest.raises(ValueError, match="repeats"):
        cond.expand(0)


def test_sampling_input_errors(model, cond, case_c):
    noise = case_c.inputs["noise"]
    with pytest.raises(ValueError, match="steps"):
        model.sample(cond, noise, steps=0)
    with pytest.raises(ValueError, match="longest"):
        model.sample(cond, noise[..., :-1])
    with pytest.raises(ValueError, match="latent_dim"):
        model.sample(cond, noise[:, :-1])
    with pytest.raises(ValueError, match="batch"):
        model.sample(cond.expand(2), noise)
    zero = dataclasses.replace(cond, latent_lengths=torch.zeros_like(cond.latent_lengths))
    with pytest.raises(ValueError, match="at least 1 frame"):
        model.sample(zero, noise)


def test_conditioning_input_errors(model, case_c):
    hidden, mask = case_c.inputs["t5_hidden"], case_c.inputs["t5_mask"]
    with pytest.raises(ValueError, match="t5_hidden"):
        model.condition(hidden[..., :-1], mask)
    with pytest.raises(ValueError, match="t5_mask"):
        model.condition(hidden, mask[:, :-1])
    empty = mask.clone()
    empty[0] = False
    with pytest.raises(ValueError, match="valid token"):
        model.condition(hidden, empty)


def test_unsupported_config_entries_are_named(case_c):
    config = dict(case_c.meta["generator_config"])
    with pytest.raises(ValueError, match="special_tokens"):
        DashengAudioGenerator.from_config({**config, "special_tokens": ["<x>"]})
    del config["dit_embed_dim"]
    with pytest.raises(ValueError, match="dit_embed_dim"):
        DashengAudioGenerator.from_config(config)


def test_condition_runs_with_the_dit_never_loaded():
    """Text Encode moves only the conditioner: the DiT may stay on meta (never materialised)."""
    case = first_case("case_b_")
    with torch.device("meta"):
        model = DashengAudioGenerator.from_config(case.meta["generator_config"])
        reference = DashengAudioGenerator.from_config(case.meta["generator_config"])
    prompt_side = {k: v for k, v in case.weights.items() if not k.startswith("backbone.")}
    model.load_state_dict(prompt_side, strict=False, assign=True)
    reference.load_state_dict(case.weights, strict=False, assign=True)
    reset_derived_buffers(reference)
    assert all(p.is_meta for p in model.backbone.parameters())
    assert not any(p.is_meta for p in model.conditioner.parameters())
    assert model.conditioner.device == torch.device("cpu")

    t5_hidden, t5_mask = case.inputs["t5_hidden"], case.inputs["t5_mask"]
    cond = model.condition(t5_hidden, t5_mask)
    reference = reference.condition(t5_hidden, t5_mask)
    assert cond.time_aligned is None and reference.time_aligned is None  # text-to-audio
    for field in dataclasses.fields(cond):
        if field.name not in ("time_aligned", "timed"):
            ours, theirs = getattr(cond, field.name), getattr(reference, field.name)
            assert torch.equal(ours, theirs), field.name
    assert all(p.is_meta for p in model.backbone.parameters())


def test_conditioner_is_the_prompt_side_and_adds_no_checkpoint_keys(model):
    conditioner_params = {id(p) for p in model.conditioner.parameters()}
    prompt_side = [
        p
        for k, p in model.named_parameters()
        if k.startswith(("content_adapter.", "content_encoder."))
    ]
    assert conditioner_params == {id(p) for p in prompt_side}
    assert conditioner_params.isdisjoint(id(p) for p in model.backbone.parameters())
    assert not any(k.startswith("conditioner") for k in model.state_dict())
    assert all(m is not model.conditioner for m in model.modules())


def test_compute_devices_can_be_assigned_like_comfyui_does(model):
    """ComfyUI's ModelPatcher writes ``model.device`` when it loads or offloads a module."""
    assert model.device == model.backbone.device == torch.device("cpu")
    try:
        model.backbone.device = "meta"
        model.conditioner.device = torch.device("meta")
        assert model.device == torch.device("meta")
        assert model.conditioner.device == torch.device("meta")
        model.backbone.device = None
        assert model.device == torch.device("cpu")
    finally:
        model.backbone.device = model.conditioner.device = None
