"""Operations namespaces and weight storage dtypes: cast-on-the-fly layers give the same numbers
as torch's, 8-bit storage keeps only the matrix weights in 8 bits, and bad combinations are
refused before any weights are read."""

from __future__ import annotations

import json

import pytest
import torch
from golden_checks.audio_tokenizer import build_tokenizer
from golden_checks.generator import load_generator as load_golden_generator
from golden_io import SHIPPED_GOLDEN_DIR, first_case
from text_encoding import encode_texts
from torch import nn

from audiogen_core.checkpoints import load_generator, load_text_encoder
from audiogen_core.conditioning.encoded import condition
from audiogen_core.models.generator import DashengAudioGenerator
from audiogen_core.models.ops import (
    CastOps,
    PlainOps,
    float32_layer_norm,
    resolve_operations,
    storage_dtypes,
    to_storage,
    weight_dtype_from_name,
)
from audiogen_core.sampling.noise import seeded_noise
from audiogen_core.sampling.sampler import sample

FP8 = (torch.float8_e4m3fn, torch.float8_e5m2)


def _sample(model, case, steps=None):
    args = case.meta["non_tensor_args"]
    cond = condition(model, case.inputs["t5_hidden"], case.inputs["t5_mask"])
    return sample(
        model,
        cond,
        case.inputs["noise"],
        steps=steps or args["num_steps"],
        guidance=args["guidance_scale"],
        sway=args["sway_sampling_coef"],
    )


def test_cast_ops_are_bit_identical_to_torch_layers_in_float32():
    case = first_case("case_c_")
    plain = _sample(load_golden_generator(case, PlainOps), case)
    cast = _sample(load_golden_generator(case, CastOps), case)
    assert torch.equal(plain, cast)

    decode = first_case("case_d_")
    latent = decode.inputs["latent"].transpose(1, 2)  # the reference's latents are time-major
    config = decode.meta["tokenizer_config"]
    waveforms = [
        build_tokenizer(config, decode.weights, False, operations).decode(latent)
        for operations in (PlainOps, CastOps)
    ]
    assert torch.equal(*waveforms)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_float32_layer_norm_is_the_same_whether_or_not_the_layer_casts(dtype):
    """ComfyUI flips ``comfy_cast_weights`` per layer; both paths must give the same bits."""
    torch.manual_seed(0)
    weight, bias = torch.randn(96), torch.randn(96)
    norms = [float32_layer_norm(ops)(96, eps=1e-6) for ops in (PlainOps, CastOps)]
    with torch.no_grad():
        for norm in norms:
            norm.weight.copy_(weight)
            norm.bias.copy_(bias)
            norm.to(dtype)
    x = (torch.randn(3, 7, 96) * 50 + 3).to(dtype)
    out_plain, out_cast = (norm(x) for norm in norms)
    assert out_plain.dtype == dtype
    assert torch.equal(out_plain, out_cast)
    expected = nn.functional.layer_norm(
        x.float(), (96,), norms[0].weight.float(), norms[0].bias.float(), 1e-6
    ).to(dtype)
    assert torch.equal(out_plain, expected)


def test_only_matrix_weights_take_the_weight_dtype_on_the_full_size_generator():
    config = json.loads((SHIPPED_GOLDEN_DIR / "manifest_generator.json").read_text())["config"]
    with torch.device("meta"):
        model = DashengAudioGenerator.from_config(config, CastOps)
    dtypes = storage_dtypes(model, torch.bfloat16, torch.float8_e4m3fn)
    state = model.state_dict()
    narrow = {k for k, d in dtypes.items() if d == torch.float8_e4m3fn}
    assert "backbone.in_blocks.0.attn.to_q.weight" in narrow
    assert "backbone.patch_embed.proj.weight" in narrow  # a Conv1d
    assert "backbone.in_blocks.0.attn.proj.bias" not in narrow
    assert "backbone.in_blocks.0.norm1.weight" not in narrow
    assert "content_adapter.attn.in_proj_weight" not in narrow  # a raw parameter
    assert {"dummy_ta_embed", "instruction_embedding"}.isdisjoint(narrow)
    assert "instruction_lengths" not in dtypes  # integer buffers keep their type
    narrow_params = sum(state[k].numel() for k in narrow)
    total = sum(p.numel() for p in model.parameters())
    assert narrow_params / total > 0.995


def test_fp8_generator_keeps_matrix_weights_in_8_bits_and_samples_close_to_fp32(
    tiny_model_dir,
):
    folder = tiny_model_dir / "Dasheng-AudioGen"
    reference = load_generator(folder, "cpu", torch.float32)
    cond = condition(reference, *_tiny_t5_states(reference))
    noise = seeded_noise([3, 4], reference.latent_dim, int(cond.latent_lengths.max()))
    expected = sample(reference, cond, noise, steps=4)
    scale = expected.abs().max()
    full_bytes = _bytes(reference)
    for weight_dtype in FP8:
        model = load_generator(folder, "cpu", torch.float32, weight_dtype=weight_dtype)
        to_q = model.backbone.in_blocks[0].attn.to_q
        assert isinstance(to_q, CastOps.Linear) and to_q.weight.dtype == weight_dtype
        assert model.backbone.in_blocks[0].attn.proj.bias.dtype == torch.float32
        assert model.backbone.in_blocks[0].norm1.weight.dtype == torch.float32
        assert (model.dtype, model.backbone.dtype) == (torch.float32, torch.float32)
        assert _bytes(model) < 0.4 * full_bytes
        out = sample(model, condition(model, *_tiny_t5_states(model)), noise, steps=4)
        assert out.dtype == torch.float32 and torch.isfinite(out).all()
        error = float((out - expected).abs().max() / scale)
        assert 0 < error < 0.3, f"{weight_dtype}: relative max error {error:.3f}"


def test_bf16_weights_with_fp32_compute_stay_close(tiny_model_dir):
    folder = tiny_model_dir / "Dasheng-AudioGen"
    reference = load_generator(folder, "cpu", torch.float32)
    model = load_generator(folder, "cpu", torch.float32, weight_dtype=torch.bfloat16)
    assert model.backbone.final_block.linear.weight.dtype == torch.bfloat16
    states = _tiny_t5_states(reference)
    a, b = condition(reference, *states), condition(model, *states)
    assert torch.allclose(a.context, b.context, rtol=0, atol=0.05 * a.context.abs().max())


def test_text_encoder_cast_ops_and_fp8(tiny_model_dir):
    folder = tiny_model_dir / "flan-t5-large"
    plain = load_text_encoder(folder, "cpu", torch.float32)
    cast = load_text_encoder(folder, "cpu", torch.float32, operations=CastOps)
    fp8 = load_text_encoder(folder, "cpu", torch.float32, weight_dtype=torch.float8_e4m3fn)
    prompts = ["<|caption|> rain on a tin roof", "<|caption|> a dog barks twice"]
    hidden, mask = encode_texts(plain, prompts)
    assert torch.equal(encode_texts(cast, prompts)[0], hidden)
    layer = fp8.model.encoder.block[0].layer[1].DenseReluDense.wi_0
    assert layer.weight.dtype == torch.float8_e4m3fn
    assert fp8.model.shared.weight.dtype == torch.float32  # embedding table: compute dtype
    fp8_hidden = encode_texts(fp8, prompts)[0]
    error = (fp8_hidden - hidden)[mask].abs().max() / hidden[mask].abs().max()
    assert 0 < float(error) < 0.2


def test_mismatched_dtypes_need_casting_operations():
    with pytest.raises(ValueError, match="cast on the fly"):
        resolve_operations(PlainOps, torch.float32, torch.float8_e4m3fn)
    assert resolve_operations(None, torch.float32, torch.float8_e4m3fn) is CastOps
    assert resolve_operations(None, torch.bfloat16, None) is PlainOps
    assert resolve_operations(PlainOps, torch.bfloat16, torch.bfloat16) is PlainOps
    with pytest.raises(ValueError, match="compute dtype"):
        resolve_operations(None, torch.float8_e4m3fn, None)
    with pytest.raises(ValueError, match="weight dtype"):
        resolve_operations(None, torch.float32, torch.float64)


def test_plain_layers_with_mismatched_dtypes_are_refused_before_reading(tiny_model_dir):
    with pytest.raises(ValueError, match="cast on the fly"):
        load_generator(
            tiny_model_dir / "Dasheng-AudioGen",
            "cpu",
            torch.float32,
            operations=PlainOps,
            weight_dtype=torch.float8_e5m2,
        )


def test_values_beyond_the_fp8_range_are_an_error_not_a_silent_clip():
    weight = torch.tensor([1.0, -500.0])
    with pytest.raises(ValueError, match=r"blocks.3.w .* up to 500"):
        to_storage(weight, torch.float8_e4m3fn, "blocks.3.w")
    assert to_storage(weight, torch.float8_e5m2).float().tolist() == [1.0, -512.0]
    with pytest.raises(ValueError, match="beyond"):
        to_storage(torch.tensor([6e4]), torch.float8_e5m2)
    with pytest.raises(ValueError, match="NaN or infinite values: the checkpoint is damaged"):
        to_storage(torch.tensor([float("nan")]), torch.float8_e4m3fn)
    with pytest.raises(ValueError, match="float16 range"):
        to_storage(torch.tensor([7e4]), torch.float16)
    assert to_storage(torch.tensor([7e4]), torch.bfloat16).dtype == torch.bfloat16


def test_weight_dtype_names():
    assert weight_dtype_from_name("default") is None
    assert weight_dtype_from_name("fp8_e4m3fn") is torch.float8_e4m3fn
    assert weight_dtype_from_name(" BF16 ") is torch.bfloat16
    with pytest.raises(ValueError, match="fp8_e5m2"):
        weight_dtype_from_name("int8")


def _tiny_t5_states(model) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(11)
    width = model.content_encoder.text_encoder.proj.weight.shape[1]
    hidden = torch.randn(2, 6, width, generator=generator)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    return hidden, mask


def _bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def test_every_operations_set_gives_the_official_keys_shapes_and_dtypes():
    from audiogen_core.models.audio_tokenizer import DashengAudioTokenizer
    from audiogen_core.models.text_encoder import T5Encoder

    def manifest(name: str) -> dict:
        return json.loads((SHIPPED_GOLDEN_DIR / name).read_text())["config"]

    builders = [
        lambda ops: DashengAudioGenerator.from_config(manifest("manifest_generator.json"), ops),
        lambda ops: DashengAudioTokenizer.from_config(
            manifest("manifest_tokenizer.json"), True, ops
        ),
        lambda ops: T5Encoder.from_config(manifest("manifest_t5_encoder.json"), ops),
    ]
    for build in builders:
        with torch.device("meta"):
            plain, cast = build(PlainOps), build(CastOps)
        layout = [[(k, v.shape, v.dtype) for k, v in m.state_dict().items()] for m in (plain, cast)]
        assert layout[0] == layout[1]
        assert any(isinstance(m, CastOps.Linear) for m in cast.modules())
        assert not any(isinstance(m, CastOps.Linear) for m in plain.modules())
