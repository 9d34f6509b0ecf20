"""T5Encoder against transformers' T5EncoderModel on a tiny random config, plus full-size keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from t5_test_tokenizer import write_t5_tokenizer

from audiogen_core.models.text_encoder import (
    T5Encoder,
    T5Tokenizer,
    TextEncoder,
    relative_position_buckets,
)

MANIFEST = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "manifest_t5_encoder.json"
TIED_KEY = "encoder.embed_tokens.weight"
FP16_MAX = torch.finfo(torch.float16).max

# Small but complete: several layers, gated GELU, log-spaced buckets that saturate below the
# longest sequence used (max distance 12 < 20 tokens).
TINY = {
    "vocab_size": 50,
    "d_model": 32,
    "d_kv": 8,
    "num_heads": 4,
    "d_ff": 48,
    "num_layers": 3,
    "relative_attention_num_buckets": 8,
    "relative_attention_max_distance": 12,
    "feed_forward_proj": "gated-gelu",
    "layer_norm_epsilon": 1e-6,
    "dropout_rate": 0.0,
}


def _transformers():
    return pytest.importorskip(
        "transformers", reason="transformers (test-only dependency) is needed as the reference"
    )


def _reference(config: dict, family: str = "T5"):
    """transformers' ``T5EncoderModel`` (or ``MT5EncoderModel``) with random weights."""
    transformers = _transformers()
    torch.manual_seed(0)
    hf_config = getattr(transformers, f"{family}Config")(**config, attn_implementation="eager")
    model = getattr(transformers, f"{family}EncoderModel")(hf_config).eval()
    with torch.no_grad():
        # Non-trivial norm weights so a wrong norm order would show.
        for name, param in model.named_parameters():
            if "layer_norm" in name:
                param.uniform_(0.5, 1.5)
    return model, hf_config.to_dict()


def _ours(reference, config_dict: dict) -> T5Encoder:
    model = T5Encoder.from_config(config_dict)
    state = {k: v for k, v in reference.state_dict().items() if k != TIED_KEY}
    model.load_state_dict(state, strict=True)
    return model.eval()


def _batch(vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = [20, 13, 1]
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(3, vocab_size, (len(lengths), max(lengths)), generator=generator)
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
    ids = ids.masked_fill(~mask, 0)
    ids[torch.arange(len(lengths)), torch.tensor(lengths) - 1] = 1  # </s> last, like T5
    return ids, mask


def _reference_output(reference, ids, mask) -> torch.Tensor:
    with torch.no_grad():
        return reference(input_ids=ids, attention_mask=mask.long()).last_hidden_state.float()


def _scaled_error(ours: torch.Tensor, expected: torch.Tensor, mask: torch.Tensor) -> float:
    diff = (ours - expected)[mask].abs().max()
    return float(diff / expected[mask].abs().max())


@pytest.fixture(scope="module")
def tiny():
    reference, config_dict = _reference(TINY)
    ids, mask = _batch(TINY["vocab_size"])
    return reference, _ours(reference, config_dict), ids, mask


def test_float32_matches_transformers(tiny):
    reference, ours, ids, mask = tiny
    expected = _reference_output(reference, ids, mask)
    with torch.no_grad():
        out = ours(ids, mask)
    assert out.dtype == torch.float32 and out.shape == (3, 20, TINY["d_model"])
    # Padded query rows are computed too (the content adapter sees them), so compare all rows.
    assert _scaled_error(out, expected, torch.ones_like(mask)) < 1e-5


@pytest.mark.parametrize("num_buckets, max_distance", [(32, 128), (8, 12), (64, 256)])
def test_relative_position_buckets_match_transformers(num_buckets, max_distance):
    attention = _transformers().models.t5.modeling_t5.T5Attention
    length = 600
    positions = torch.arange(length)
    relative = positions[None, :] - positions[:, None]
    expected = attention._relative_position_bucket(relative, True, num_buckets, max_distance)
    ours = relative_position_buckets(length, num_buckets, max_distance, torch.device("cpu"))
    assert torch.equal(ours, expected)


def test_relu_variant_matches_transformers():
    config = {**TINY, "feed_forward_proj": "relu", "num_layers": 2}
    reference, config_dict = _reference(config)
    ours = _ours(reference, config_dict)
    assert "encoder.block.0.layer.1.DenseReluDense.wi.weight" in ours.state_dict()
    ids, mask = _batch(config["vocab_size"])
    with torch.no_grad():
        out = ours(ids, mask)
    assert _scaled_error(out, _reference_output(reference, ids, mask), mask) < 1e-5


# google/mt5-large's config.json (its Hub file), as the multilingual checkpoint uses it.
MT5_LARGE = {
    "model_type": "mt5",
    "architectures": ["T5ForConditionalGeneration"],
    "d_ff": 2816,
    "d_kv": 64,
    "d_model": 1024,
    "decoder_start_token_id": 0,
    "dropout_rate": 0.1,
    "eos_token_id": 1,
    "feed_forward_proj": "gated-gelu",
    "initializer_factor": 1.0,
    "is_encoder_decoder": True,
    "layer_norm_epsilon": 1e-06,
    "num_decoder_layers": 24,
    "num_heads": 16,
    "num_layers": 24,
    "output_past": True,
    "pad_token_id": 0,
    "relative_attention_num_buckets": 32,
    "tie_word_embeddings": False,
    "tokenizer_class": "T5Tokenizer",
    "vocab_size": 250112,
}


def test_mt5_matches_transformers_mt5_encoder():
    config = {**TINY, "vocab_size": 300, "tie_word_embeddings": False}
    reference, config_dict = _reference(config, family="MT5")
    assert config_dict["model_type"] == "mt5"
    ours = _ours(reference, config_dict)
    ids, mask = _batch(config["vocab_size"])
    ids[0, :5] = torch.tensor([299, 298, 257, 256, 3])  # rows past flan-t5's vocabulary size
    with torch.no_grad():
        out = ours(ids, mask)
    expected = _reference_output(reference, ids, mask)
    assert _scaled_error(out, expected, torch.ones_like(mask)) < 1e-5


def test_meta_construction_of_mt5_large_matches_transformers():
    transformers = _transformers()
    with torch.device("meta"):
        ours = T5Encoder.from_config(MT5_LARGE)
        reference = transformers.MT5EncoderModel(transformers.MT5Config(**MT5_LARGE))
    expected = {k: tuple(v.shape) for k, v in reference.state_dict().items() if k != TIED_KEY}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == expected
    assert ours.config.vocab_size == 250112 and ours.config.activation == "gelu_new"
    assert ours.config.relative_attention_max_distance == 128  # absent from the file: default


def test_padding_does_not_change_valid_tokens(tiny):
    _, ours, ids, mask = tiny
    with torch.no_grad():
        batched = ours(ids, mask)
        alone = ours(ids[1:2, :13], mask[1:2, :13])
    assert torch.allclose(batched[1, :13], alone[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype, bound", [(torch.bfloat16, 5e-2), (torch.float16, 1e-2)])
def test_half_precisions_close_to_float32(tiny, dtype, bound):
    _, ours, ids, mask = tiny
    half = _copy(ours).to(dtype)
    with torch.no_grad():
        expected, out = ours(ids, mask), half(ids, mask)
    assert out.dtype == torch.float32 and bool(out.isfinite().all())
    assert _scaled_error(out, expected, mask) < bound


def test_float16_overflow_guard():
    reference, config_dict = _reference(TINY)
    with torch.no_grad():
        for block in reference.encoder.block:
            block.layer[1].DenseReluDense.wo.weight.mul_(3e4)
    peak = _peak_feed_forward_output(reference)
    ids, mask = _batch(TINY["vocab_size"])
    expected = _reference_output(reference, ids, mask)
    assert peak.item() > FP16_MAX, "the test weights no longer overflow float16; scale them up"
    ours = _ours(reference, config_dict).to(torch.float16)
    with torch.no_grad():
        out = ours(ids, mask)
    assert bool(out.isfinite().all())
    assert _scaled_error(out, expected, mask) < 1e-2


def test_meta_construction_of_flan_t5_large_matches_manifest():
    manifest = json.loads(MANIFEST.read_text())
    with torch.device("meta"):
        model = T5Encoder.from_config(manifest["config"])
    state = model.state_dict()
    assert all(t.is_meta for t in state.values())
    expected = {k["key"]: tuple(k["shape"]) for k in manifest["keys"] if k["key"] != TIED_KEY}
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    total = sum(p.numel() for p in model.parameters())
    assert total == manifest["param_counts"]["total_parameters"]


def test_loader_attributes():
    assert T5Encoder.CHECKPOINT_ALIASES == {TIED_KEY: "shared.weight"}
    assert T5Encoder.IGNORED_CHECKPOINT_PREFIXES == ("decoder.", "lm_head.")


@pytest.mark.parametrize(
    "change, message",
    [({"d_model": None}, "missing"), ({"feed_forward_proj": "gated-swish"}, "feed_forward_proj")],
)
def test_bad_config_is_a_clear_error(change, message):
    config = {k: v for k, v in {**TINY, **change}.items() if v is not None}
    with pytest.raises(ValueError, match=message):
        T5Encoder.from_config(config)


def test_text_encoder_bundle(tmp_path, tiny):
    _, ours, _, _ = tiny
    tokenizer = T5Tokenizer.from_file(write_t5_tokenizer(tmp_path))
    encoder = TextEncoder(_copy(ours).to(torch.bfloat16), tokenizer, max_length=8)
    prompts = ["<|caption|> A dog barks <|sfx|> bark", "<|caption|> the rain"]
    ids, mask, counts = encoder.tokenizer.tokenize(prompts, encoder.max_length)
    hidden = encoder.model(ids, mask)
    _, expected_mask = tokenizer(prompts, max_length=8)
    assert encoder.dtype == torch.bfloat16 and encoder.device == torch.device("cpu")
    assert hidden.dtype == torch.float32 and hidden.shape == (2, 8, TINY["d_model"])
    assert torch.equal(mask, expected_mask)
    assert counts[0] > 8 and ids.shape[1] == 8


def _copy(model: T5Encoder) -> T5Encoder:
    clone = T5Encoder(model.config)
    clone.load_state_dict(model.state_dict())
    return clone.eval()


def _peak_feed_forward_output(reference) -> torch.Tensor:
    """Largest |wo output| over the reference's layers, in float32."""
    peak = torch.zeros(())
    hooks = [
        block.layer[1].DenseReluDense.wo.register_forward_hook(
            lambda _m, _i, out: peak.copy_(torch.maximum(peak, out.abs().max()))
        )
        for block in reference.encoder.block
    ]
    ids, mask = _batch(TINY["vocab_size"])
    _reference_output(reference, ids, mask)
    for hook in hooks:
        hook.remove()
    return peak
