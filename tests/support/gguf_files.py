"""GGUF files in audiogen.cpp's layout, written the plain way for tests.

An independent writer of audiogen.cpp's file set (convert/convert_dit.py, convert_t5_encoder.py
and convert_vocoder.py of github.com/audiohacking/audiogen.cpp, re-derived here): whole tensors
through ``GGUFWriter.add_tensor``, the lists of keys spelled out as in those scripts. The
package's own writer streams tensors instead and takes its layout from ``gguf_layout``; tests
compare the two byte for byte, and load these files as files audiogen.cpp wrote.

Also a few damaged or foreign files for the error tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
from safetensors import safe_open

DIT_INTS = (
    "instruction_seq_len task_instruction_dim latent_dim content_dim dit_img_size dit_patch_size "
    "dit_in_chans dit_out_chans dit_embed_dim dit_depth dit_num_heads dit_ada_sola_rank "
    "dit_ada_sola_alpha dit_ta_context_dim dit_context_dim adapter_num_heads "
    "duration_predictor_filter_channels duration_predictor_n_layers "
    "duration_predictor_kernel_size downsampling_ratio sample_rate tokenizer_max_length"
).split()
DIT_FLOATS = ["dit_mlp_ratio", "frame_resolution", "duration_offset"]
DIT_STRINGS = (
    "dit_qk_norm dit_norm_layer dit_act_layer dit_time_fusion dit_ta_context_fusion "
    "dit_context_fusion dit_context_pe_method dit_pe_method dit_rope_mode dit_input_type"
).split()
DIT_BOOLS = ["dit_context_norm", "dit_ta_context_norm", "use_zero_instruction"]
VOCODER_INTS = (
    "decoder_depth decoder_embed_dim decoder_intermediate_size embed_dim hop_length istft_hop "
    "istft_n_fft upsample_tokens"
).split()
T5_INTS = {
    "n_layer": "num_layers",
    "n_head": "num_heads",
    "d_model": "d_model",
    "d_kv": "d_kv",
    "d_ff": "d_ff",
    "vocab_size": "vocab_size",
    "relative_attention_num_buckets": "relative_attention_num_buckets",
    "relative_attention_max_distance": "relative_attention_max_distance",
}
T5_BLOCK = [
    ("layer.0.layer_norm.weight", "attn_norm.weight"),
    ("layer.0.SelfAttention.q.weight", "attn_q.weight"),
    ("layer.0.SelfAttention.k.weight", "attn_k.weight"),
    ("layer.0.SelfAttention.v.weight", "attn_v.weight"),
    ("layer.0.SelfAttention.o.weight", "attn_o.weight"),
    ("layer.1.layer_norm.weight", "ffn_norm.weight"),
    ("layer.1.DenseReluDense.wi_0.weight", "ffn_gate.weight"),
    ("layer.1.DenseReluDense.wi_1.weight", "ffn_up.weight"),
    ("layer.1.DenseReluDense.wo.weight", "ffn_down.weight"),
]
QUANTS = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0}


def _config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


def _narrow(tensor: np.ndarray, dtype: str) -> np.ndarray:
    """f16 stores matrices (2+ dims) as F16 and keeps vectors F32."""
    if dtype == "f16" and tensor.dtype == np.float32 and tensor.ndim >= 2:
        return tensor.astype(np.float16)
    return tensor


def write_dit(
    snapshot: Path,
    out: Path,
    dtype: str = "f16",
    changes: dict | None = None,
    drop: tuple = (),
    replace: dict | None = None,
) -> Path:
    """dit.gguf (or a quantized one) from a Dasheng-AudioGen snapshot folder.

    For damaged files: ``changes`` overrides config values, ``drop`` leaves int metadata keys
    out, ``replace`` maps tensor names to (array, raw GGML type or None) written instead.
    """
    config = {**_config(snapshot), **(changes or {})}
    writer = gguf.GGUFWriter(str(out), "dasheng_audiogen_dit")
    writer.add_name("dasheng-audiogen-dit")
    writer.add_int32 = _dropping(writer.add_int32, drop)
    for key in DIT_INTS:
        writer.add_int32(f"dasheng_audiogen.{key}", int(config[key]))
    for key in DIT_FLOATS:
        writer.add_float32(f"dasheng_audiogen.{key}", float(config[key]))
    for key in DIT_STRINGS:
        writer.add_string(f"dasheng_audiogen.{key}", str(config[key]))
    for key in DIT_BOOLS:
        writer.add_bool(f"dasheng_audiogen.{key}", bool(config[key]))
    prefixes = ("backbone.", "content_adapter.", "content_encoder.text_encoder.proj.")
    extras = ("dummy_nta_embed", "dummy_ta_embed", "instruction_embedding")
    with safe_open(str(snapshot / "model.safetensors"), framework="numpy") as handle:
        for name in handle.keys():  # noqa: SIM118 (safe_open has no iteration)
            if name == "instruction_lengths":
                value = int(handle.get_tensor(name)[0])
                writer.add_int32("dasheng_audiogen.instruction_lengths", value)
                continue
            if not (name.startswith(prefixes) or name in extras):
                continue
            if name in (replace or {}):
                array, raw = replace[name]
                writer.add_tensor(name, array, raw_dtype=raw)
                continue
            tensor = handle.get_tensor(name)
            quantize = (
                dtype in QUANTS
                and name.startswith("backbone.")
                and tensor.ndim >= 2
                and tensor.size >= 256
                and tensor.shape[-1] % 32 == 0
                and not any(word in name.lower() for word in ("bias", "norm", "ln_"))
            )
            if quantize:
                blocks = gguf.quants.quantize(tensor.astype(np.float32), QUANTS[dtype])
                writer.add_tensor(name, blocks, raw_dtype=QUANTS[dtype])
            else:
                writer.add_tensor(name, _narrow(tensor, dtype))
    _finish(writer)
    return out


def write_t5_encoder(snapshot: Path, out: Path, dtype: str = "f32") -> Path:
    """t5_encoder.gguf from a flan-t5 snapshot folder (audiogen.cpp publishes it in F32)."""
    config = _config(snapshot)
    writer = gguf.GGUFWriter(str(out), "dasheng_audiogen_t5enc")
    writer.add_name("dasheng-audiogen-t5-encoder")
    for key, config_key in T5_INTS.items():
        writer.add_int32(f"t5enc.{key}", int(config[config_key]))
    writer.add_float32("t5enc.layer_norm_eps", float(config["layer_norm_epsilon"]))
    with safe_open(str(snapshot / "model.safetensors"), framework="numpy") as handle:
        writer.add_tensor("token_embd.weight", _narrow(handle.get_tensor("shared.weight"), dtype))
        for i in range(config["num_layers"]):
            pairs = [(f"encoder.block.{i}.{a}", f"enc.blk.{i}.{b}") for a, b in T5_BLOCK]
            if i == 0:
                pairs.append(
                    (
                        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                        "enc.blk.0.attn_rel_b.weight",
                    )
                )
            for ours, theirs in pairs:
                tensor = handle.get_tensor(ours)
                keep = theirs.endswith("attn_rel_b.weight")
                writer.add_tensor(theirs, tensor if keep else _narrow(tensor, dtype))
        norm = handle.get_tensor("encoder.final_layer_norm.weight")
        writer.add_tensor("enc.output_norm.weight", _narrow(norm, dtype))
    _finish(writer)
    return out


def write_vocoder(snapshot: Path, out: Path, dtype: str = "f16") -> Path:
    """vocoder.gguf (the decode path) from a dashengtokenizer snapshot folder."""
    config = _config(snapshot)
    writer = gguf.GGUFWriter(str(out), "dasheng_audiogen_vocoder")
    writer.add_name("dasheng-audiogen-vocoder")
    for key in VOCODER_INTS:
        writer.add_int32(f"dasheng_audiogen.{key}", int(config[key]))
    with safe_open(str(snapshot / "model.safetensors"), framework="numpy") as handle:
        for name in handle.keys():  # noqa: SIM118
            if not name.startswith(("decoder.", "upsampler.")):
                continue
            if name == "decoder.head.istft.window":
                continue
            writer.add_tensor(name, _narrow(handle.get_tensor(name), dtype))
    _finish(writer)
    return out


def _dropping(add, drop: tuple):
    def maybe_add(key, value):
        if key.split(".", 1)[1] not in drop:
            add(key, value)

    return maybe_add


def _finish(writer: gguf.GGUFWriter) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_foreign(out: Path, architecture: str = "llama", tensors: dict | None = None) -> Path:
    """A GGUF of another model (or with tensors of other types), for the error tests.

    ``tensors`` maps names to (array, raw GGML type or None).
    """
    writer = gguf.GGUFWriter(str(out), architecture)
    writer.add_name("something else")
    for name, (array, raw) in (
        tensors or {"x.weight": (np.zeros((4, 32), np.float32), None)}
    ).items():
        writer.add_tensor(name, array, raw_dtype=raw)
    _finish(writer)
    return out
