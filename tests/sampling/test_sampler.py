"""The sampler entry (``sampling/sampler.py``): the cached, guided Euler loop against the
reference's loop, determinism, precision, progress, cancellation and argument errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from golden_checks.generator import load_generator
from golden_io import first_case

from audiogen_core.conditioning.encoded import condition
from audiogen_core.models.adapter import frames_mask
from audiogen_core.sampling.sampler import sample
from audiogen_core.sampling.schedules import sigma_schedule, timesteps_from_sigmas


@pytest.fixture(scope="module")
def case_c():
    return first_case("case_c_")


@pytest.fixture(scope="module")
def model(case_c):
    return load_generator(case_c)


@pytest.fixture(scope="module")
def cond(model, case_c):
    return condition(model, case_c.inputs["t5_hidden"], case_c.inputs["t5_mask"])


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
    ours = sample(model, cond, noise, steps=3, guidance=scale, sway=sway)
    assert (ours - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_sampling_is_deterministic(model, cond, case_c):
    noise = case_c.inputs["noise"]
    first = sample(model, cond, noise, steps=2)
    assert torch.equal(first, sample(model, cond, noise, steps=2))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_sampling_stays_close(model, cond, case_c, dtype):
    noise = case_c.inputs["noise"]
    reference = sample(model, cond, noise, steps=3, guidance=3.0)
    low = load_generator(case_c).to(dtype)
    low_cond = condition(low, case_c.inputs["t5_hidden"], case_c.inputs["t5_mask"])
    assert torch.equal(low_cond.latent_lengths, cond.latent_lengths)
    out = sample(low, low_cond, noise, steps=3, guidance=3.0)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert (out - reference).abs().max() <= 5e-2 * reference.abs().max()


def test_progress_and_cancellation(model, cond, case_c):
    noise = case_c.inputs["noise"]
    progress = []
    sample(model, cond, noise, steps=3, callback=lambda s, t: progress.append((s, t)))
    assert progress == [(1, 3), (2, 3), (3, 3)]  # sway: the final zero step is not evaluated

    def cancel(step, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sample(model, cond, noise, steps=3, callback=cancel)


def test_user_duration_replaces_the_predicted_length(model, cond):
    lengths = torch.full_like(cond.latent_lengths, 5)
    short = dataclasses.replace(cond, latent_lengths=lengths)
    noise = torch.randn(cond.batch_size, model.latent_dim, 5)
    out = sample(model, short, noise, steps=2)
    assert out.shape == noise.shape and torch.isfinite(out).all()


def test_sampling_input_errors(model, cond, case_c):
    noise = case_c.inputs["noise"]
    with pytest.raises(ValueError, match="steps"):
        sample(model, cond, noise, steps=0)
    with pytest.raises(ValueError, match="longest"):
        sample(model, cond, noise[..., :-1])
    with pytest.raises(ValueError, match="latent_dim"):
        sample(model, cond, noise[:, :-1])
    with pytest.raises(ValueError, match="batch"):
        sample(model, cond.expand(2), noise)
    zero = dataclasses.replace(cond, latent_lengths=torch.zeros_like(cond.latent_lengths))
    with pytest.raises(ValueError, match="at least 1 frame"):
        sample(model, zero, noise)
