"""Tests of the content adapter and the duration arithmetic beyond the golden case: float32
ties, no clamping, the alignment expansion, padding, reduced precisions, config checks."""

from __future__ import annotations

import math

import pytest
import torch
from golden_checks.generator import load_generator
from golden_io import first_case

from audiogen_core.conditioning.alignment import expand_by_duration
from audiogen_core.models.adapter import (
    ContentAdapter,
    frames_mask,
    global_latent_frames,
    local_latent_frames,
)

FRAME_RATE, RESOLUTION, OFFSET = 25, 0.005, 1.0


@pytest.fixture(scope="module")
def case_b():
    return first_case("case_b")


def test_local_frames_follow_the_float32_ties():
    # ceil(exp(l)) - 1 = k units of 5 ms; k * 0.125 frames is an exact tie when k = 4 mod 8,
    # and float32 0.005 decides the rounding (60 -> 7 where exact arithmetic gives 8).
    units = torch.tensor([4, 12, 28, 44, 60, 92, 108, 3])
    local_log = torch.log(units.double() + 0.5).float()[None]
    frames = local_latent_frames(
        local_log, torch.ones_like(local_log, dtype=torch.bool), FRAME_RATE, RESOLUTION, OFFSET
    )
    assert frames.dtype == torch.float32
    assert frames[0].tolist() == [0, 2, 4, 6, 7, 11, 13, 0]


def test_padded_tokens_get_negative_zero_frames():
    local_log = torch.tensor([[2.0, 0.0]])
    frames = local_latent_frames(
        local_log, torch.tensor([[True, False]]), FRAME_RATE, RESOLUTION, OFFSET
    )
    assert frames[0, 1] == 0 and torch.signbit(frames[0, 1])


def test_global_frames_are_not_clamped():
    global_log = torch.tensor([0.0, math.log(3.0), math.log(0.6)])
    frames = global_latent_frames(global_log, FRAME_RATE, OFFSET)
    assert frames.dtype == torch.int64
    assert frames.tolist() == [0, 50, -10]


def test_frames_mask():
    assert frames_mask(torch.tensor([2, 0, 3]), 3).tolist() == [
        [True, True, False],
        [False, False, False],
        [True, True, True],
    ]


def test_expand_by_duration_repeats_tokens_over_their_frames():
    content = torch.arange(3.0)[None, :, None].expand(1, 3, 2)
    local = torch.tensor([[2.0, 0.0, 3.0]])
    latent_mask = frames_mask(torch.tensor([4]), 6)
    out = expand_by_duration(content, torch.tensor([[True, True, True]]), local, latent_mask)
    assert out[0, :, 0].tolist() == [0.0, 0.0, 2.0, 2.0, 0.0, 0.0]  # frames 4, 5 are padding


def test_padded_tokens_do_not_change_global_duration_or_valid_content(case_b):
    model = load_generator(case_b)
    hidden, mask = case_b.inputs["t5_hidden"], case_b.inputs["t5_mask"]
    assert not mask.all(), "the fixture should pad one prompt"
    noisy = torch.where(mask[..., None], hidden, 3 * torch.randn_like(hidden))
    clean, padded = model.adapt_content(hidden, mask), model.adapt_content(noisy, mask)
    assert torch.allclose(clean.global_duration_log, padded.global_duration_log, atol=1e-6)
    assert torch.allclose(clean.content[mask], padded.content[mask], atol=1e-5)
    # As in the reference, the per-token head's first conv sees the unmasked padded features,
    # so the last valid tokens' local durations move (harmless: text-to-audio ignores them).
    assert torch.equal(clean.local_duration_log[~mask], padded.local_duration_log[~mask])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_adapter_runs_and_stays_close(case_b, dtype):
    # The reference crashes here in bf16 (float32 pooled features meet bf16 weights).
    reference = load_generator(case_b).adapt_content(
        case_b.inputs["t5_hidden"], case_b.inputs["t5_mask"]
    )
    model = load_generator(case_b).to(dtype)
    out = model.adapt_content(case_b.inputs["t5_hidden"], case_b.inputs["t5_mask"])
    assert out.content.dtype == dtype
    assert out.global_duration_log.dtype == out.local_duration_log.dtype == torch.float32
    for ours, ref in [
        (out.content, reference.content),
        (out.global_duration_log, reference.global_duration_log),
        (out.local_duration_log, reference.local_duration_log),
    ]:
        assert torch.isfinite(ours).all()
        assert (ours.float() - ref).abs().max() <= 5e-2 * ref.abs().max()


def test_separate_instruction_width_is_refused(case_b):
    config = {**case_b.meta["generator_config"]}
    config["task_instruction_dim"] = config["content_dim"] + 1
    with pytest.raises(ValueError, match="task_instruction_dim"):
        ContentAdapter.from_config(config)
