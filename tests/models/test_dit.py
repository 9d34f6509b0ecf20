"""Tests of the DiT backbone beyond the golden forward: timestep truncation, the prepared
(cached) evaluation path, masking, reduced precisions, RoPE buffers and config checks."""

from __future__ import annotations

import pytest
import torch
from golden_checks.generator import load_generator
from golden_io import first_case

from audiogen_core.models.dit import LayerFusionDiT, RotaryEmbedding, timestep_embedding


@pytest.fixture(scope="module")
def case_a():
    return first_case("case_a")


@pytest.fixture(scope="module")
def backbone(case_a):
    return load_generator(case_a).backbone


def _run(backbone: LayerFusionDiT, inputs: dict, **changes) -> torch.Tensor:
    args = {**inputs, **changes}
    with torch.no_grad():
        return backbone(
            args["x"],
            args["timestep"],
            args["time_aligned_context"],
            args["context"],
            args["x_mask"],
            args["context_mask"],
        )


def _scale(case_a) -> float:
    return case_a.max_abs("velocity")


def test_scalar_timestep_is_truncated_to_an_integer(backbone, case_a):
    inputs = case_a.inputs
    t = float(inputs["timestep"])
    truncated = _run(backbone, inputs, timestep=torch.tensor(float(int(t))))
    assert t != int(t)
    assert torch.equal(_run(backbone, inputs), truncated)
    # A 1-D timestep is embedded as a float, as in the reference: the fraction then matters.
    as_float = _run(backbone, inputs, timestep=torch.full((inputs["x"].shape[0],), t))
    assert (as_float - truncated).abs().max() > 1e-2 * _scale(case_a)


def test_truncation_is_toward_zero_not_rounding(backbone, case_a):
    inputs = case_a.inputs
    low = _run(backbone, inputs, timestep=torch.tensor(500.0))
    assert torch.equal(_run(backbone, inputs, timestep=torch.tensor(500.99)), low)
    assert not torch.equal(_run(backbone, inputs, timestep=torch.tensor(501.0)), low)


def test_timestep_embedding_puts_cosines_first():
    emb = timestep_embedding(torch.tensor([0.0, 3.0]), 8)
    assert torch.equal(emb[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    assert torch.allclose(emb[1, 0], torch.cos(torch.tensor(3.0)))
    assert torch.allclose(emb[1, 4], torch.sin(torch.tensor(3.0)))


def test_prepared_path_with_one_time_aligned_vector_matches_forward(backbone, case_a):
    inputs = case_a.inputs
    batch, frames = inputs["x"].shape[0], inputs["x"].shape[-1]
    vector = inputs["time_aligned_context"][:, :1]
    full = _run(backbone, inputs, time_aligned_context=vector.expand(batch, frames, -1))
    with torch.no_grad():
        constants = backbone.prepare(
            frames, vector, inputs["context"], inputs["x_mask"], inputs["context_mask"]
        )
        first = backbone.velocity(inputs["x"], inputs["timestep"], constants)
        again = backbone.velocity(inputs["x"], inputs["timestep"], constants)
    assert torch.equal(first, again)
    assert (first - full).abs().max() <= 1e-6 * _scale(case_a)


def test_masked_context_tokens_have_no_influence(backbone, case_a):
    inputs = case_a.inputs
    mask = inputs["context_mask"]
    assert not mask.all(), "the fixture should pad one context"
    noisy = torch.where(mask[..., None], inputs["context"], torch.randn_like(inputs["context"]))
    assert torch.allclose(_run(backbone, inputs, context=noisy), _run(backbone, inputs), atol=1e-6)


def test_masked_frames_only_reach_valid_ones_through_the_final_conv(backbone, case_a):
    inputs = case_a.inputs
    lengths = inputs["x_mask"].sum(dim=1)
    item = int(lengths.argmin())
    length = int(lengths[item])
    x = inputs["x"].clone()
    x[item, :, length:] += 5.0
    changed = (_run(backbone, inputs, x=x) - _run(backbone, inputs))[item].abs().amax(dim=0)
    assert changed[: length - 1].max() < 1e-5  # keys are masked: no attention to padded frames
    assert changed[length - 1] > 1e-3  # but the k=3 conv mixes in the first padded frame


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_forward_stays_close(case_a, dtype):
    reference = _run(load_generator(case_a).backbone, case_a.inputs)
    backbone = load_generator(case_a).backbone.to(dtype)
    out = _run(backbone, case_a.inputs)
    assert out.dtype == dtype
    assert torch.isfinite(out).all()
    assert (out.float() - reference).abs().max() <= 5e-2 * _scale(case_a)


def test_rope_frequencies_stay_float32_and_are_recomputed():
    rotary = RotaryEmbedding(16)
    expected = rotary.inv_freq.clone()
    assert expected.dtype == torch.float32 and expected.shape == (8,)
    rotary.to(torch.bfloat16)
    assert torch.equal(rotary.inv_freq, expected)
    with torch.device("meta"):
        on_meta = RotaryEmbedding(16)
    assert on_meta.inv_freq.is_meta
    on_meta.reset_derived_buffers()
    assert on_meta.inv_freq.device.type == "cpu" and torch.equal(on_meta.inv_freq, expected)


def test_rope_tables_rotate_half_pairs():
    cos, sin = RotaryEmbedding(4).tables(3, torch.device("cpu"))
    assert cos.shape == (3, 4) and torch.equal(cos[:, :2], cos[:, 2:])
    assert torch.allclose(sin[2], torch.tensor([2.0, 0.02, 2.0, 0.02]).sin())


def test_wrong_lengths_are_reported(backbone, case_a):
    inputs = case_a.inputs
    frames = inputs["x"].shape[-1]
    with torch.no_grad():
        constants = backbone.prepare(
            frames, inputs["time_aligned_context"], inputs["context"], inputs["x_mask"]
        )
        with pytest.raises(ValueError, match="frames"):
            backbone.velocity(inputs["x"][..., :-1], inputs["timestep"], constants)
        with pytest.raises(ValueError, match="time_aligned_context"):
            backbone.prepare(frames + 1, inputs["time_aligned_context"], inputs["context"])


@pytest.mark.parametrize(
    ("key", "value"),
    [("dit_time_fusion", "ada_single"), ("dit_pe_method", "abs"), ("dit_patch_size", 2)],
)
def test_unsupported_architecture_options_are_refused(case_a, key, value):
    config = {**case_a.meta["generator_config"], key: value}
    with pytest.raises(ValueError, match=key):
        LayerFusionDiT.from_config(config)


def test_head_width_must_be_even(case_a):
    config = {**case_a.meta["generator_config"], "dit_embed_dim": 12, "dit_num_heads": 4}
    with pytest.raises(ValueError, match="even"):
        LayerFusionDiT.from_config(config)
