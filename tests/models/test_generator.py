"""Tests of the generator module beyond the golden cases: the full-size checkpoint layout, the
conditioner on its own, the text encoder family, the velocity entry point and input errors
(the sampler's tests are in ``tests/sampling/test_sampler.py``)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from golden_checks.generator import load_generator
from golden_io import SHIPPED_GOLDEN_DIR, first_case

from audiogen_core.models.derived_buffers import reset_derived_buffers
from audiogen_core.models.generator import (
    DashengAudioGenerator,
    DiTInputs,
    generator_text_encoder_family,
)

MANIFEST = json.loads((SHIPPED_GOLDEN_DIR / "manifest_generator.json").read_text())
FULL_SIZE_PARAMETERS = 2_185_498_626


@pytest.fixture(scope="module")
def case_c():
    return first_case("case_c_")


@pytest.fixture(scope="module")
def model(case_c):
    return load_generator(case_c)


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
    for field in dataclasses.fields(cond):
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


def test_velocity_fn_is_the_dit_on_the_given_inputs(model, case_c):
    """The entry point prepares the per-call constants once and evaluates the DiT with them:
    the same numbers as the DiT's own forward on those inputs."""
    cond = model.condition(case_c.inputs["t5_hidden"], case_c.inputs["t5_mask"])
    noise = case_c.inputs["noise"]
    batch, frames = noise.shape[0], noise.shape[-1]
    time_aligned = model.time_aligned_input(None, batch, frames, noise.device)
    assert time_aligned.shape == (batch, 1, model.dummy_ta_embed.shape[0])
    inputs = DiTInputs(cond.context, cond.context_mask, cond.latent_lengths, time_aligned)
    timestep = torch.tensor(600.0)
    ours = model.velocity_fn(inputs, frames)(noise, timestep)
    x_mask = torch.arange(frames)[None, :] < cond.latent_lengths[:, None]
    with torch.no_grad():
        full = model.backbone(
            noise,
            timestep,
            model.dummy_ta_embed.detach().expand(batch, frames, -1),
            cond.context,
            x_mask,
            cond.context_mask,
        )
    assert (ours - full).abs().max() <= 1e-5 * full.abs().max()


def test_text_encoder_family_comes_from_the_generator_config():
    assert generator_text_encoder_family({}) == "t5"
    assert generator_text_encoder_family({"text_encoder_name": "google/mt5-large"}) == "mt5"
    assert generator_text_encoder_family({"text_encoder_name": "google/flan-t5-large"}) == "t5"
