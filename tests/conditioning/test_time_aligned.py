"""The time-aligned conditionings beyond the golden case: token ranges, the aligned mode with a
chosen length, mixed batches, timelines of events, and the checks that keep a layout and its
length together."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from golden_checks.generator import load_generator
from golden_io import first_case
from hypothesis import given, settings
from hypothesis import strategies as st

from audiogen_core.conditioning.alignment import (
    align,
    lay_out_timeline,
    lay_over_range,
    spread_token_ends,
)
from audiogen_core.conditioning.encoded import condition
from audiogen_core.models.generator import pad_frames
from audiogen_core.sampling.sampler import sample


@pytest.fixture(scope="module")
def case_h():
    return first_case("case_h_")


@pytest.fixture(scope="module")
def model(case_h):
    return load_generator(case_h)


@pytest.fixture(scope="module")
def cond(model, case_h):
    return condition(model, case_h.inputs["t5_hidden"], case_h.inputs["t5_mask"])


def _item(cond, i):
    """Item i alone, cut to its own tokens."""
    n = int(cond.context_mask[i].sum())
    return dataclasses.replace(
        cond,
        context=cond.context[i : i + 1, :n],
        context_mask=cond.context_mask[i : i + 1, :n],
        global_duration_log=cond.global_duration_log[i : i + 1],
        latent_lengths=cond.latent_lengths[i : i + 1],
        local_frames=cond.local_frames[i : i + 1, :n],
    )


def test_token_ends_follow_the_model_timing_or_scale_in_proportion():
    frames = torch.tensor([5.0, 4.0, 3.0, -0.0])
    mask = torch.tensor([True, True, True, False])
    assert spread_token_ends(frames, mask, 0, 12).tolist() == [5, 9, 12, 12]
    assert spread_token_ends(frames, mask, 10, 22).tolist() == [15, 19, 22, 22]
    assert spread_token_ends(frames, mask, 0, 24).tolist() == [10, 18, 24, 24]
    assert spread_token_ends(frames, mask, 0, 6).tolist() == [2, 4, 6, 6]  # floor of 2.5, 4.5
    zeros = torch.tensor([0.0, 0.0, 0.0, -0.0])
    assert spread_token_ends(zeros, mask, 0, 9).tolist() == [3, 6, 9, 9]
    with pytest.raises(ValueError, match="at least one frame"):
        spread_token_ends(frames, mask, 4, 4)


@settings(max_examples=200, deadline=None)
@given(
    frames=st.lists(st.integers(0, 12), min_size=1, max_size=20),
    padded=st.integers(0, 4),
    start=st.integers(0, 50),
    span=st.integers(1, 300),
)
def test_token_ends_cover_the_range_in_order(frames, padded, start, span):
    local = torch.tensor([float(f) for f in frames] + [-0.0] * padded)
    mask = torch.tensor([True] * len(frames) + [False] * padded)
    ends = spread_token_ends(local, mask, start, start + span).tolist()
    assert all(a <= b for a, b in zip([start, *ends], ends, strict=False))
    assert ends[-1] == start + span
    total = sum(frames)
    if total == span:  # the model's own timing, exactly
        running = [start + sum(frames[: i + 1]) for i in range(len(frames))]
        assert ends[: len(frames)] == running
    if total:  # each token's share is within one frame of its proportional share
        for i in range(len(frames)):
            exact = start + span * sum(frames[: i + 1]) / total
            assert exact - 1 < ends[i] <= exact


def test_lay_over_range_places_each_token_on_its_frames():
    content = torch.eye(3)
    laid = lay_over_range(
        content, torch.ones(3, dtype=torch.bool), torch.tensor([1.0, 2, 1]), 2, 6, 8
    )
    owner = [int(row.argmax()) if row.any() else -1 for row in laid]
    assert owner == [-1, -1, 0, 1, 1, 2, -1, -1]
    with pytest.raises(ValueError, match="do not fit"):
        lay_over_range(content, torch.ones(3, dtype=torch.bool), torch.ones(3), 6, 9, 8)
    assert pad_frames(torch.ones(1, 2, 3), 4)[0, 2:].abs().sum() == 0


def test_aligned_length_is_the_sum_of_token_frames(model, cond, case_h):
    aligned = align(model, cond)
    expected = case_h.outputs["debug.global_latent_duration"]
    assert torch.equal(aligned.latent_lengths, expected)
    assert torch.equal(aligned.latent_lengths, cond.local_frames.sum(dim=1).long())
    assert aligned.time_aligned.shape[1] == int(expected.max())
    # Padded frames of the shorter item are zero, as in the reference.
    assert aligned.time_aligned[1, int(expected[1]) :].abs().sum() == 0
    assert aligned.context_mask.sum(dim=1).tolist() == [1, 1]
    assert torch.equal(aligned.context[:, 0], model.dummy_nta_embed.detach().expand(2, -1))
    with pytest.raises(ValueError, match="already time-aligned"):
        align(model, aligned)


def test_aligned_with_a_chosen_length_scales_the_token_timing(model, cond):
    single = _item(cond, 0)
    own = int(single.local_frames.sum())
    same = align(model, single, frames=own)
    assert torch.equal(same.time_aligned, align(model, single).time_aligned)
    doubled = align(model, single, frames=2 * own)
    assert doubled.latent_lengths.tolist() == [2 * own]
    # Every token now lasts twice as long: frame 2j and 2j + 1 hold what frame j held.
    assert torch.equal(doubled.time_aligned[0, ::2], same.time_aligned[0])
    assert torch.equal(doubled.time_aligned[0, 1::2], same.time_aligned[0])
    with pytest.raises(ValueError, match="at least 1"):
        align(model, single, frames=0)


def test_mixed_batch_keeps_unflagged_items_text_to_audio(model, cond):
    mixed = align(model, cond, items=torch.tensor([False, True]))
    assert mixed.latent_lengths[0] == cond.latent_lengths[0]
    assert mixed.latent_lengths[1] == int(cond.local_frames[1].sum())
    assert torch.equal(
        mixed.time_aligned[0], model.dummy_ta_embed.detach().expand(mixed.time_aligned.shape[1], -1)
    )
    # The context is cut to the longest prompt among the items that still use it.
    keep = int(cond.context_mask[0].sum())
    assert mixed.context.shape[1] == keep
    assert torch.equal(mixed.context[0], cond.context[0, :keep])
    assert mixed.context_mask[1].tolist() == [True] + [False] * (keep - 1)
    with pytest.raises(ValueError, match="one flag per item"):
        align(model, cond, items=torch.tensor([True]))


def test_a_layout_keeps_its_length(model, cond, case_h):
    aligned = align(model, cond)
    with pytest.raises(ValueError, match="laid out over 27 latent frames, but 30 were"):
        dataclasses.replace(aligned, latent_lengths=torch.tensor([30, 30]))
    # Fewer frames (a window, an item alone) read the layout's first frames.
    second = dataclasses.replace(
        aligned,
        **{
            name: getattr(aligned, name)[1:]
            for name in (
                "context",
                "context_mask",
                "global_duration_log",
                "latent_lengths",
                "local_frames",
                "time_aligned",
            )
        },
    )
    noise = torch.randn(1, model.latent_dim, 14)
    alone = sample(model, second, noise, steps=2, guidance=3.0)
    cut = dataclasses.replace(second, time_aligned=second.time_aligned[:, :14])
    assert torch.equal(alone, sample(model, cut, noise, steps=2, guidance=3.0))
    # Variations of an aligned item keep its layout.
    assert torch.equal(aligned.expand(2).time_aligned[2], aligned.time_aligned[1])
    # Noise longer than the layout: the extra frames get zeros, as the reference pads.
    noise = torch.randn(2, model.latent_dim, 29)
    out = sample(model, aligned, noise, steps=1, guidance=3.0)
    assert out.shape == noise.shape and torch.isfinite(out).all()


def test_timeline_without_events_is_text_to_audio(model, cond, case_h):
    base = _item(cond, 0)
    frames = 11
    clip = lay_out_timeline(model, None, [], frames, base=base)
    assert clip.latent_lengths.tolist() == [frames]
    assert torch.equal(clip.context, base.context)
    plain = dataclasses.replace(base, latent_lengths=torch.tensor([frames]))
    noise = case_h.inputs["noise"][:1, :, :frames]
    ours = sample(model, clip, noise, steps=3, guidance=3.0)
    expected = sample(model, plain, noise, steps=3, guidance=3.0)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-5)


def test_one_event_over_its_own_timing_is_the_aligned_mode(model, cond, case_h):
    single = _item(cond, 1)
    own = int(single.local_frames.sum())
    clip = lay_out_timeline(model, single, [(0, own)], own)
    aligned = align(model, single)
    assert torch.equal(clip.time_aligned, aligned.time_aligned)
    assert clip.context_mask.tolist() == [[True]]
    noise = case_h.inputs["noise"][1:, :, :own]
    torch.testing.assert_close(
        sample(model, clip, noise, steps=3, guidance=3.0),
        sample(model, aligned, noise, steps=3, guidance=3.0),
        rtol=0,
        atol=1e-5,
    )


def test_timeline_places_events_on_their_frames(model, cond):
    events = _select(cond, [0, 1])
    clip = lay_out_timeline(model, events, [(2, 8), (6, 12)], 15)
    ta = clip.time_aligned[0]
    dummy = model.dummy_ta_embed.detach()
    first = lay_over_range(
        events.context[0], events.context_mask[0], events.local_frames[0], 2, 8, 15
    )
    second = lay_over_range(
        events.context[1], events.context_mask[1], events.local_frames[1], 6, 12, 15
    )
    for frame in (0, 1, 12, 13, 14):
        assert torch.equal(ta[frame], dummy)
    assert torch.equal(ta[2:6], first[2:6])
    assert torch.allclose(ta[6:8], (first[6:8] + second[6:8]) / 2)
    assert torch.equal(ta[8:12], second[8:12])
    # Without a base prompt the context is the learned non-time-aligned embedding.
    assert torch.equal(clip.context[0, 0], model.dummy_nta_embed.detach())


def test_timeline_errors(model, cond):
    events = _select(cond, [0, 1])
    with pytest.raises(ValueError, match="2 event prompts"):
        lay_out_timeline(model, events, [(0, 4)], 10)
    with pytest.raises(ValueError, match="do not fit"):
        lay_out_timeline(model, events, [(0, 4), (8, 12)], 10)
    with pytest.raises(ValueError, match="one prompt"):
        lay_out_timeline(model, events, [(0, 4), (4, 8)], 10, base=events)
    with pytest.raises(ValueError, match="at least one frame"):
        lay_out_timeline(model, events, [(0, 4), (4, 8)], 0)
    with pytest.raises(ValueError, match="not time-aligned ones"):
        lay_out_timeline(model, align(model, events), [(0, 4), (4, 8)], 10)


def _select(cond, rows):
    index = torch.tensor(rows, dtype=torch.long)
    return dataclasses.replace(
        cond,
        context=cond.context[index],
        context_mask=cond.context_mask[index],
        global_duration_log=cond.global_duration_log[index],
        latent_lengths=cond.latent_lengths[index],
        local_frames=cond.local_frames[index],
    )
