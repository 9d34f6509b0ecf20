"""Tiny random-weight snapshot folders laid out exactly like the official ones.

``write_tiny_snapshots(root)`` writes ``root/Dasheng-AudioGen``, ``root/dashengtokenizer`` and
``root/flan-t5-large`` (config.json + model.safetensors, plus tokenizer.json for T5), and the
multilingual pair ``root/Dasheng-AudioGen-Multilingual`` and ``root/mt5-large`` (spiece.model
and tokenizer_config.json instead of tokenizer.json, as google/mt5-large ships), so the real
loaders, pipeline, CLI and nodes can run end to end in seconds on a CPU.

The generator and audio tokenizer reuse the reference-made weights of the golden fixtures
(small dims, official key names). The generator's global duration head is tamed so that
every prompt predicts about one second, keeping predicted-length runs short. The T5 is a
random 2-layer model stored the way the official flan-t5 file is: encoder and decoder
together, the embedding only as ``shared.weight``. The multilingual generator is the same
generator with the official multilingual config change (``text_encoder_name`` is
google/mt5-large); its mT5 has model_type ``mt5``, untied embeddings and a vocabulary padded
past the sentencepiece pieces to a multiple of 128, as mt5-large's 250,112 rows are.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from golden_io import SHIPPED_GOLDEN_DIR, load_case
from safetensors.torch import save_file
from t5_test_tokenizer import build_t5_tokenizer, write_mt5_tokenizer_files

PREDICTED_SECONDS = 1.0
T5_LAYERS = 2
T5_HEADS = 4


def _generator_files() -> tuple[dict, dict[str, torch.Tensor]]:
    case = load_case(SHIPPED_GOLDEN_DIR / "case_c2_generate_cfg_single.safetensors")
    weights = {k: v.clone() for k, v in case.weights.items()}
    head = "content_adapter.global_duration_mlp.3"
    weights[f"{head}.weight"] *= 1e-3
    weights[f"{head}.bias"].fill_(math.log(PREDICTED_SECONDS + 1.0))
    return case.meta["generator_config"], weights


def _audio_tokenizer_files() -> tuple[dict, dict[str, torch.Tensor]]:
    case = load_case(SHIPPED_GOLDEN_DIR / "case_d_tokenizer_decode.safetensors")
    return case.meta["tokenizer_config"], dict(case.weights)


MT5_VOCAB_MULTIPLE = 128


def _mt5_config(t5_config: dict, pieces: int) -> dict:
    """google/mt5-large's config.json fields on the tiny dimensions."""
    config = {k: v for k, v in t5_config.items() if k != "n_positions"}
    vocab_size = -(-pieces // MT5_VOCAB_MULTIPLE) * MT5_VOCAB_MULTIPLE
    return {
        **config,
        "model_type": "mt5",
        "architectures": ["MT5ForConditionalGeneration"],
        "tie_word_embeddings": False,
        "tokenizer_class": "T5Tokenizer",
        "vocab_size": vocab_size,
    }


def _t5_files(d_model: int, vocab_size: int) -> tuple[dict, dict[str, torch.Tensor]]:
    d_kv = d_model // T5_HEADS
    inner = d_kv * T5_HEADS
    d_ff = 2 * d_model
    config = {
        "model_type": "t5",
        "architectures": ["T5ForConditionalGeneration"],
        "d_model": d_model,
        "d_kv": d_kv,
        "num_heads": T5_HEADS,
        "d_ff": d_ff,
        "num_layers": T5_LAYERS,
        "num_decoder_layers": T5_LAYERS,
        "relative_attention_num_buckets": 32,
        "relative_attention_max_distance": 128,
        "layer_norm_epsilon": 1e-6,
        "feed_forward_proj": "gated-gelu",
        "is_gated_act": True,
        "dense_act_fn": "gelu_new",
        "vocab_size": vocab_size,
        "n_positions": 512,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
    }
    gen = torch.Generator().manual_seed(5)

    def rand(*shape: int, scale: float) -> torch.Tensor:
        return torch.randn(shape, generator=gen) * scale

    weights = {
        "shared.weight": rand(vocab_size, d_model, scale=1.0),
        "encoder.final_layer_norm.weight": 1 + rand(d_model, scale=0.1),
        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": rand(
            32, T5_HEADS, scale=0.5
        ),
        # Stand-ins for the decoder half of the official file, which the loader skips.
        "decoder.final_layer_norm.weight": torch.ones(d_model),
        "lm_head.weight": rand(vocab_size, d_model, scale=0.05),
    }
    for i in range(T5_LAYERS):
        p = f"encoder.block.{i}.layer"
        for name in "qkvo":
            shape = (d_model, inner) if name == "o" else (inner, d_model)
            weights[f"{p}.0.SelfAttention.{name}.weight"] = rand(*shape, scale=d_model**-0.5)
        weights[f"{p}.0.layer_norm.weight"] = 1 + rand(d_model, scale=0.1)
        weights[f"{p}.1.DenseReluDense.wi_0.weight"] = rand(d_ff, d_model, scale=d_model**-0.5)
        weights[f"{p}.1.DenseReluDense.wi_1.weight"] = rand(d_ff, d_model, scale=d_model**-0.5)
        weights[f"{p}.1.DenseReluDense.wo.weight"] = rand(d_model, d_ff, scale=d_ff**-0.5)
        weights[f"{p}.1.layer_norm.weight"] = 1 + rand(d_model, scale=0.1)
    return config, weights


def _write(folder: Path, config: dict, weights: dict[str, torch.Tensor]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    save_file({k: v.contiguous() for k, v in weights.items()}, str(folder / "model.safetensors"))


def write_tiny_snapshots(root: Path, multilingual: bool = True) -> Path:
    """Write the three tiny snapshot folders under ``root`` and return ``root``.

    With ``multilingual`` the multilingual pair is written too; that needs sentencepiece (to
    train the mT5 vocabulary), the English snapshots do not.
    """
    root = Path(root)
    gen_config, gen_weights = _generator_files()
    _write(root / "Dasheng-AudioGen", gen_config, gen_weights)
    tok_config, tok_weights = _audio_tokenizer_files()
    _write(root / "dashengtokenizer", tok_config, tok_weights)
    tokenizer = build_t5_tokenizer()
    t5_dim = gen_weights["content_encoder.text_encoder.proj.weight"].shape[1]
    t5_config, t5_weights = _t5_files(t5_dim, tokenizer.get_vocab_size())
    _write(root / "flan-t5-large", t5_config, t5_weights)
    tokenizer.save(str(root / "flan-t5-large" / "tokenizer.json"))
    if multilingual:
        write_multilingual_snapshots(root, gen_config, gen_weights)
    return root


def write_multilingual_snapshots(
    root: Path, gen_config: dict, gen_weights: dict[str, torch.Tensor]
) -> None:
    """The multilingual generator and its mT5 text encoder, beside the English ones."""
    import sentencepiece

    multilingual_config = {**gen_config, "text_encoder_name": "google/mt5-large"}
    _write(root / "Dasheng-AudioGen-Multilingual", multilingual_config, gen_weights)
    spiece = write_mt5_tokenizer_files(root / "mt5-large")
    pieces = sentencepiece.SentencePieceProcessor(model_file=str(spiece)).get_piece_size()
    t5_dim = gen_weights["content_encoder.text_encoder.proj.weight"].shape[1]
    t5_config, _ = _t5_files(t5_dim, 1)
    mt5_config = _mt5_config(t5_config, pieces)
    _, mt5_weights = _t5_files(t5_dim, mt5_config["vocab_size"])
    _write(root / "mt5-large", mt5_config, mt5_weights)
