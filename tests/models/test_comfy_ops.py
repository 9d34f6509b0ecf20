"""The models built from ComfyUI's layer sets (a stand-in of ``comfy.ops``, see
``comfy_ops_standin.py``) give the same bits as with torch's layers: fully loaded
(``disable_weight_init``), casting (``manual_cast``), and partially loaded (casting switched
on for some layers only, as ComfyUI's model patcher does in low-VRAM mode)."""

from __future__ import annotations

import pytest
import torch
from comfy_ops_standin import disable_weight_init, manual_cast
from golden_checks.audio_tokenizer import build_tokenizer
from golden_checks.generator import load_generator as load_golden_generator
from golden_io import first_case
from text_encoding import encode_texts

from audiogen_core.checkpoints import load_generator, load_text_encoder
from audiogen_core.conditioning.encoded import condition
from audiogen_core.models.ops import CastOps, PlainOps, resolve_operations
from audiogen_core.sampling.sampler import sample


def _partially_loaded(model: torch.nn.Module) -> torch.nn.Module:
    """Switch casting on for every other ComfyUI layer, as a partial load does."""
    layers = [m for m in model.modules() if hasattr(m, "comfy_cast_weights")]
    assert layers, "no ComfyUI layer in the model"
    for layer in layers[::2]:
        layer.comfy_cast_weights = True
    return model


def _sample(model, case):
    cond = condition(model, case.inputs["t5_hidden"], case.inputs["t5_mask"])
    return sample(model, cond, case.inputs["noise"], steps=4, guidance=4.0)


@pytest.mark.parametrize("mode", ["full", "manual_cast", "partial"])
def test_generator_and_decoder_match_torch_layers_bit_for_bit(mode):
    operations = manual_cast if mode == "manual_cast" else disable_weight_init
    prepare = _partially_loaded if mode == "partial" else (lambda m: m)

    case = first_case("case_c_")
    expected = _sample(load_golden_generator(case, PlainOps), case)
    model = prepare(load_golden_generator(case, operations))
    assert torch.equal(_sample(model, case), expected)

    decode = first_case("case_d_")
    config = decode.meta["tokenizer_config"]
    latent = decode.inputs["latent"].transpose(1, 2)  # the reference's latents are time-major
    expected = build_tokenizer(config, decode.weights, False, PlainOps).decode(latent)
    tokenizer = prepare(build_tokenizer(config, decode.weights, False, operations))
    assert torch.equal(tokenizer.decode(latent), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_text_encoder_matches_torch_layers(tiny_model_dir, dtype):
    folder = tiny_model_dir / "flan-t5-large"
    prompts = ["<|caption|> waves on pebbles", "<|caption|> a kettle whistles"]
    expected = encode_texts(load_text_encoder(folder, "cpu", dtype), prompts)[0]
    for operations in (disable_weight_init, manual_cast):
        encoder = load_text_encoder(folder, "cpu", dtype, operations=operations)
        assert torch.equal(encode_texts(encoder, prompts)[0], expected)
    partial = load_text_encoder(folder, "cpu", dtype, operations=disable_weight_init)
    _partially_loaded(partial.model)
    assert torch.equal(encode_texts(partial, prompts)[0], expected)


def test_fp8_weights_with_comfyui_manual_cast_equal_our_cast_ops(tiny_model_dir):
    folder = tiny_model_dir / "Dasheng-AudioGen"
    ours = load_generator(folder, weight_dtype=torch.float8_e4m3fn)
    comfy = load_generator(folder, weight_dtype=torch.float8_e4m3fn, operations=manual_cast)
    assert comfy.backbone.mid_block.mlp.net[2].weight.dtype == torch.float8_e4m3fn
    hidden = torch.randn(1, 5, comfy.content_encoder.text_encoder.proj.weight.shape[1])
    mask = torch.ones(1, 5, dtype=torch.bool)
    cond = condition(ours, hidden, mask)
    noise = torch.randn(1, ours.latent_dim, int(cond.latent_lengths.max()))
    assert torch.equal(
        sample(comfy, condition(comfy, hidden, mask), noise, steps=3),
        sample(ours, cond, noise, steps=3),
    )


def test_layers_that_never_cast_are_refused_for_narrower_weights():
    assert resolve_operations(manual_cast, torch.bfloat16, torch.float8_e5m2) is manual_cast
    assert resolve_operations(disable_weight_init, torch.bfloat16, None) is disable_weight_init
    with pytest.raises(ValueError, match="disable_weight_init does not"):
        resolve_operations(disable_weight_init, torch.bfloat16, torch.float8_e5m2)
    assert resolve_operations(CastOps, torch.float32, torch.float16) is CastOps
