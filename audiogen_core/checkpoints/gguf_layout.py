"""audiogen.cpp's GGUF file set, as data: file names, architectures, metadata keys, tensor names.

audiogen.cpp (github.com/audiohacking/audiogen.cpp) publishes Dasheng-AudioGen as GGUF files
in one folder, each written by one of its converters from an official safetensors snapshot:

    t5_encoder.gguf   flan-t5-large's encoder (F32)          from google/flan-t5-large
    dit.gguf          DiT + content adapter + projection (F16), or the quantized
    dit_Q8_0.gguf     dit_Q8_0.gguf / dit_Q4_0.gguf           from mispeech/Dasheng-AudioGen
    dit_Q4_0.gguf
    vocoder.gguf      the audio tokenizer's decode path (F16) from mispeech/dashengtokenizer
    spiece.model      flan-t5's SentencePiece model

This module says, for each of the three, which official keys go in and under which names, which
config values become metadata (and of which GGUF type), and which tensors take which GGML type;
the reader (``gguf.py``) and the writer (``gguf_writer.py``) both follow it, so a file we write
is the file audiogen.cpp's converter writes from the same snapshot, and either side reads the
other's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

GGUF_SUFFIX = ".gguf"
SPIECE_FILE = "spiece.model"
# Tensor types read and written; anything else (K-quants, IQ types, Q4_1, Q5_x, ...) is refused.
FLOAT_TYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
BLOCK_TYPES = ("Q8_0", "Q4_0")
QUANT_CHOICES = ("f32", "f16", "q8_0", "q4_0")
QUANT_BLOCK = 32  # values per Q8_0 / Q4_0 block


@dataclass(frozen=True)
class Metadata:
    """One metadata entry: its GGUF key, GGUF value type and the config.json key it comes from."""

    key: str
    kind: str  # "int32" | "float32" | "string" | "bool"
    config_key: str


@dataclass(frozen=True)
class GGUFLayout:
    """One file of the set: what it holds and how it is named."""

    role: str  # "generator" | "text_encoder" | "audio_tokenizer"
    architecture: str  # general.architecture
    general_name: str  # general.name
    metadata: tuple[Metadata, ...]
    description: str


def _entries(prefix: str, kind: str, keys: str) -> tuple[Metadata, ...]:
    return tuple(Metadata(f"{prefix}{key}", kind, key) for key in keys.split())


_DIT = "dasheng_audiogen."
INSTRUCTION_LENGTHS_KEY = f"{_DIT}instruction_lengths"
GENERATOR_LAYOUT = GGUFLayout(
    "generator",
    "dasheng_audiogen_dit",
    "dasheng-audiogen-dit",
    _entries(
        _DIT,
        "int32",
        "instruction_seq_len task_instruction_dim latent_dim content_dim dit_img_size "
        "dit_patch_size dit_in_chans dit_out_chans dit_embed_dim dit_depth dit_num_heads "
        "dit_ada_sola_rank dit_ada_sola_alpha dit_ta_context_dim dit_context_dim "
        "adapter_num_heads duration_predictor_filter_channels duration_predictor_n_layers "
        "duration_predictor_kernel_size downsampling_ratio sample_rate tokenizer_max_length",
    )
    + _entries(_DIT, "float32", "dit_mlp_ratio frame_resolution duration_offset")
    + _entries(
        _DIT,
        "string",
        "dit_qk_norm dit_norm_layer dit_act_layer dit_time_fusion dit_ta_context_fusion "
        "dit_context_fusion dit_context_pe_method dit_pe_method dit_rope_mode dit_input_type",
    )
    + _entries(_DIT, "bool", "dit_context_norm dit_ta_context_norm use_zero_instruction")
    # Not a config value: the first element of the checkpoint's instruction_lengths buffer,
    # which audiogen.cpp stores as metadata rather than as a tensor.
    + (Metadata(INSTRUCTION_LENGTHS_KEY, "int32", ""),),
    "generator (DiT + content adapter)",
)
TEXT_ENCODER_LAYOUT = GGUFLayout(
    "text_encoder",
    "dasheng_audiogen_t5enc",
    "dasheng-audiogen-t5-encoder",
    tuple(
        Metadata(f"t5enc.{key}", "int32", config_key)
        for key, config_key in (
            ("n_layer", "num_layers"),
            ("n_head", "num_heads"),
            ("d_model", "d_model"),
            ("d_kv", "d_kv"),
            ("d_ff", "d_ff"),
            ("vocab_size", "vocab_size"),
            ("relative_attention_num_buckets", "relative_attention_num_buckets"),
            ("relative_attention_max_distance", "relative_attention_max_distance"),
        )
    )
    + (Metadata("t5enc.layer_norm_eps", "float32", "layer_norm_epsilon"),),
    "text encoder (flan-t5-large encoder)",
)
AUDIO_TOKENIZER_LAYOUT = GGUFLayout(
    "audio_tokenizer",
    "dasheng_audiogen_vocoder",
    "dasheng-audiogen-vocoder",
    _entries(
        _DIT,
        "int32",
        "decoder_depth decoder_embed_dim decoder_intermediate_size embed_dim hop_length "
        "istft_hop istft_n_fft upsample_tokens",
    ),
    "audio decoder (vocoder: the audio tokenizer's decode path)",
)
LAYOUTS = {
    layout.role: layout
    for layout in (GENERATOR_LAYOUT, TEXT_ENCODER_LAYOUT, AUDIO_TOKENIZER_LAYOUT)
}
LAYOUT_BY_ARCHITECTURE = {layout.architecture: layout for layout in LAYOUTS.values()}

# File names as audiogen.cpp publishes them.
TEXT_ENCODER_FILE = "t5_encoder.gguf"
VOCODER_FILE = "vocoder.gguf"
GENERATOR_FILES = {
    "f32": "dit.gguf",
    "f16": "dit.gguf",
    "q8_0": "dit_Q8_0.gguf",
    "q4_0": "dit_Q4_0.gguf",
}
GENERATOR_FILE_NAMES = ("dit.gguf", "dit_Q8_0.gguf", "dit_Q4_0.gguf")

# How a loader list recognises each role's file by name (audiogen.cpp's names, and the
# Makefile's renamed dit.gguf): the header is not read just to fill a list.
FILE_PATTERNS = {
    "generator": "dit*.gguf",
    "text_encoder": "t5*.gguf",
    "audio_tokenizer": "vocoder*.gguf",
}

# The multilingual checkpoint is not part of audiogen.cpp's set, whose metadata says neither
# which text encoder a DiT was trained with nor whether a T5 file is flan-t5 or mt5. Files
# written from it carry one extra key each (absent: the English checkpoint), so the pairing
# check works; the English files stay exactly audiogen.cpp's.
TEXT_ENCODER_NAME_KEY = f"{_DIT}text_encoder_name"
T5_MODEL_TYPE_KEY = "t5enc.model_type"

# --------------------------------------------------------------------------- tensor names

_GENERATOR_PREFIXES = ("backbone.", "content_adapter.", "content_encoder.text_encoder.proj.")
_GENERATOR_EXTRAS = ("dummy_nta_embed", "dummy_ta_embed", "instruction_embedding")
_VOCODER_PREFIXES = ("decoder.", "upsampler.")
# Recomputed from istft_n_fft by audiogen.cpp (and by us: a derived buffer), so not stored.
_VOCODER_SKIPPED = ("decoder.head.istft.window",)

# flan-t5 key inside block i -> audiogen.cpp's name, in the order its converter writes them.
_T5_BLOCK = (
    ("layer.0.layer_norm.weight", "attn_norm.weight"),
    ("layer.0.SelfAttention.q.weight", "attn_q.weight"),
    ("layer.0.SelfAttention.k.weight", "attn_k.weight"),
    ("layer.0.SelfAttention.v.weight", "attn_v.weight"),
    ("layer.0.SelfAttention.o.weight", "attn_o.weight"),
    ("layer.1.layer_norm.weight", "ffn_norm.weight"),
    ("layer.1.DenseReluDense.wi_0.weight", "ffn_gate.weight"),
    ("layer.1.DenseReluDense.wi_1.weight", "ffn_up.weight"),
    ("layer.1.DenseReluDense.wo.weight", "ffn_down.weight"),
)
_T5_RELATIVE_BIAS = ("layer.0.SelfAttention.relative_attention_bias.weight", "attn_rel_b.weight")
_T5_FIXED = {
    "shared.weight": "token_embd.weight",
    "encoder.final_layer_norm.weight": "enc.output_norm.weight",
}
_T5_BLOCK_KEY = re.compile(r"encoder\.block\.(\d+)\.(.+)")
_T5_BLOCK_NAME = re.compile(r"enc\.blk\.(\d+)\.(.+)")


def gguf_tensor_names(
    role: str, official_keys: list[str], num_layers: int = 0
) -> list[tuple[str, str]]:
    """(official key, GGUF name) of every tensor the file holds, in the converter's order.

    ``official_keys`` are the snapshot's keys (their order is irrelevant: audiogen.cpp writes
    the generator's and vocoder's in sorted order, as safetensors lists them, and the text
    encoder's block by block); ``num_layers`` is the text encoder's layer count.
    """
    if role == "text_encoder":
        pairs = [("shared.weight", "token_embd.weight")]
        for i in range(num_layers):
            block = [
                (f"encoder.block.{i}.{ours}", f"enc.blk.{i}.{theirs}") for ours, theirs in _T5_BLOCK
            ]
            if i == 0:
                ours, theirs = _T5_RELATIVE_BIAS
                block.append((f"encoder.block.0.{ours}", f"enc.blk.0.{theirs}"))
            pairs += block
        pairs.append(("encoder.final_layer_norm.weight", "enc.output_norm.weight"))
        return pairs
    keys = sorted(official_keys)
    if role == "generator":
        chosen = [k for k in keys if k.startswith(_GENERATOR_PREFIXES) or k in _GENERATOR_EXTRAS]
    elif role == "audio_tokenizer":
        chosen = [k for k in keys if k.startswith(_VOCODER_PREFIXES) and k not in _VOCODER_SKIPPED]
    else:
        raise ValueError(f"unknown role {role!r}")
    return [(key, key) for key in chosen]


def official_key(role: str, gguf_name: str) -> str | None:
    """The official (Hugging Face) key of a GGUF tensor name; None if the name is foreign."""
    if role != "text_encoder":
        return gguf_name
    for ours, theirs in _T5_FIXED.items():
        if gguf_name == theirs:
            return ours
    match = _T5_BLOCK_NAME.fullmatch(gguf_name)
    if match:
        index, theirs = match.groups()
        for ours, name in (*_T5_BLOCK, _T5_RELATIVE_BIAS):
            if name == theirs:
                return f"encoder.block.{index}.{ours}"
    return None


def stored_type(role: str, key: str, shape: tuple[int, ...], quant: str) -> str:
    """The GGML type audiogen.cpp's converters give a float32 tensor for ``--dtype quant``.

    The text encoder is always F32 (the published file, and the Makefile's ``--dtype f32``);
    its relative position table is F32 whatever the choice. Otherwise: F32 stays F32 under
    ``f32``; ``f16`` stores every tensor of two or more dimensions as F16 and keeps vectors
    (biases, norms) F32; ``q8_0`` and ``q4_0`` quantize the DiT's (``backbone.*``) matrices of at
    least 256 values whose rows are a multiple of 32 and whose names say neither bias nor norm,
    and keep every other tensor F32. The vocoder has no quantized form (``f16`` then).
    """
    if role == "text_encoder" or quant == "f32":
        return "F32"
    if role == "audio_tokenizer" or quant == "f16":
        return "F16" if len(shape) >= 2 else "F32"
    numel = 1
    for size in shape:
        numel *= size
    lowered = key.lower()
    quantized = (
        key.startswith("backbone.")
        and len(shape) >= 2
        and numel >= 256
        and shape[-1] % QUANT_BLOCK == 0
        and not any(word in lowered for word in ("bias", "norm", "ln_"))
    )
    return quant.upper() if quantized else "F32"


def is_gguf(path: Path) -> bool:
    """A ``.gguf`` file (audiogen.cpp's format) rather than a snapshot folder."""
    path = Path(path)
    return path.suffix.lower() == GGUF_SUFFIX and not path.is_dir()


def find_gguf_set(folder: Path) -> dict[str, Path] | None:
    """The three files of audiogen.cpp's set in ``folder`` by role, or None if it holds none.

    The DiT is whichever of dit.gguf, dit_Q8_0.gguf and dit_Q4_0.gguf is there; several at
    once are ambiguous, and the error says how to pick one. A missing file keeps its published
    name, so the caller's "not found" names what to download.
    """
    folder = Path(folder)
    if not folder.is_dir() or not any(folder.glob(f"*{GGUF_SUFFIX}")):
        return None
    variants = [folder / name for name in GENERATOR_FILE_NAMES if (folder / name).is_file()]
    if len(variants) > 1:
        raise ValueError(
            f"{folder} holds {len(variants)} DiT files ({', '.join(p.name for p in variants)}); "
            "pick one with --generator (or keep one of them in the folder)."
        )
    return {
        "generator": variants[0] if variants else folder / GENERATOR_FILE_NAMES[0],
        "audio_tokenizer": folder / VOCODER_FILE,
        "text_encoder": folder / TEXT_ENCODER_FILE,
    }
