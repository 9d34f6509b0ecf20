"""Reading a snapshot's config.json, and the rules its fields must follow.

Each model reads a fixed set of fields; every one is checked (present, and a value of the
right kind) before anything is built, so a damaged file is named with its key instead of
failing deep inside a module.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..models.audio_tokenizer.encoder import SAMPLE_RATE
from .download import download_command
from .errors import WeightsError
from .gguf_layout import is_gguf
from .snapshots import SnapshotKind, describe_model_type
from .weight_files import json_kind, refuse_link_loop, refuse_pickle_suffix, require_regular_file

# What each model reads from its config.json, and what each value must be: "count" a whole
# number >= 1, "positive" a number > 0, "number" any finite number.
CONFIG_FIELDS: dict[str, dict[str, str]] = {
    "generator": {
        "sample_rate": "count",
        "downsampling_ratio": "count",
        "latent_dim": "count",
        "content_dim": "count",
        "task_instruction_dim": "count",
        "instruction_seq_len": "count",
        "frame_resolution": "positive",
        "duration_offset": "number",
        "dit_in_chans": "count",
        "dit_out_chans": "count",
        "dit_embed_dim": "count",
        "dit_depth": "count",
        "dit_num_heads": "count",
        "dit_mlp_ratio": "positive",
        "dit_ta_context_dim": "count",
        "dit_context_dim": "count",
        "adapter_num_heads": "count",
        "adapter_duration_grad_scale": "number",
        "duration_predictor_filter_channels": "count",
        "duration_predictor_n_layers": "count",
        "duration_predictor_kernel_size": "count",
    },
    "audio_tokenizer": {
        "embed_dim": "count",
        "depth": "count",
        "num_heads": "count",
        "decoder_embed_dim": "count",
        "decoder_depth": "count",
        "decoder_intermediate_size": "count",
        "istft_n_fft": "count",
        "istft_hop": "count",
        "upsample_tokens": "count",
        "n_mels_patch": "count",
        "hop_length": "count",
    },
    "text_encoder": {
        "vocab_size": "count",
        "d_model": "count",
        "d_kv": "count",
        "num_heads": "count",
        "d_ff": "count",
        "num_layers": "count",
        "relative_attention_num_buckets": "count",
    },
}
# Read when present (the model has a default for each).
OPTIONAL_CONFIG_FIELDS: dict[str, dict[str, str]] = {
    "text_encoder": {
        "relative_attention_max_distance": "count",
        "layer_norm_epsilon": "positive",
        "n_positions": "count",
    },
}


def read_config(folder: Path, kind: SnapshotKind) -> dict:
    """Read and check ``config.json`` of a snapshot folder: an object, the right model type,
    and every field the model reads present with a value of the right kind. A ``.gguf``
    file (audiogen.cpp's) gives the config its metadata rebuilds, checked the same way."""
    folder = Path(folder)
    if is_gguf(folder):
        from .gguf import open_gguf

        config = open_gguf(folder, kind.role).config()
        check_config_fields(folder, config, kind.role)
        return config
    config_path = _config_path(folder, kind)
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{config_path} is not valid JSON ({exc}); download it again.") from exc
    except OSError as exc:
        raise WeightsError(f"{config_path} cannot be read ({exc.strerror or exc}).") from exc
    if not isinstance(config, dict):
        raise WeightsError(
            f"{config_path} must hold a JSON object ({{...}}), but holds "
            f"{json_kind(config)}; download it again."
        )
    model_type = config.get("model_type")
    if model_type not in kind.model_types:
        raise WeightsError(
            f"{folder} holds {describe_model_type(model_type)}, not the {kind.description} "
            f"(config.json model_type {model_type!r}, expected {kind.model_types[0]!r}). "
            f"Pick the {kind.folder_name} folder."
        )
    check_config_fields(config_path, config, kind.role)
    return config


def _config_path(folder: Path, kind: SnapshotKind) -> Path:
    """``folder/config.json``, once the folder and the file are known to be what they claim."""
    refuse_link_loop(folder)
    if folder.is_file():
        refuse_pickle_suffix(folder)
        raise WeightsError(
            f"{folder} is a file; point at the snapshot folder that contains it "
            f"(the folder with config.json, e.g. .../{kind.folder_name})."
        )
    if not folder.is_dir():
        raise WeightsError(
            f"The {kind.description} folder {folder} does not exist.\n"
            f"Download it with: {download_command(kind, folder)}"
        )
    config_path = folder / "config.json"
    refuse_link_loop(config_path)
    if config_path.is_dir():
        raise WeightsError(f"{config_path} is a folder, not a file; download config.json again.")
    require_regular_file(config_path)
    if not config_path.is_file():
        raise WeightsError(
            f"{folder} has no config.json, so it is not a complete {kind.description} snapshot.\n"
            f"Download it with: {download_command(kind, folder)}"
        )
    return config_path


def check_config_fields(config_path: Path, config: dict, role: str) -> None:
    """Every field ``role``'s model reads: present, and a value of the right kind."""
    for key, rule in CONFIG_FIELDS.get(role, {}).items():
        if key not in config:
            raise WeightsError(
                f"{config_path} has no {key!r} entry; download the official config.json again."
            )
        _check_config_value(config_path, key, config[key], rule)
    for key, rule in OPTIONAL_CONFIG_FIELDS.get(role, {}).items():
        if config.get(key) is not None:
            _check_config_value(config_path, key, config[key], rule)


def _check_config_value(path: Path, key: str, value: object, rule: str) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if rule == "count":
        ok, wanted = number and isinstance(value, int) and value >= 1, "a whole number >= 1"
    elif rule == "positive":
        ok, wanted = number and math.isfinite(value) and value > 0, "a number > 0"
    else:
        ok, wanted = number and math.isfinite(value), "a finite number"
    if not ok:
        raise WeightsError(
            f"{path}: {key!r} must be {wanted}, got {json.dumps(value)}; "
            "download the official config.json again."
        )


def check_rates_agree(generator_config: dict, tokenizer_config: dict) -> None:
    """The generator's latent must be the one the audio tokenizer decodes: same sample rate,
    frame rate and latent width. A mismatch would decode at the wrong speed or not at all."""
    generator = (
        generator_config["sample_rate"],
        generator_config["sample_rate"] // generator_config["downsampling_ratio"],
        generator_config["latent_dim"],
    )
    per_frame = tokenizer_config["istft_hop"] * tokenizer_config["upsample_tokens"]
    tokenizer = (SAMPLE_RATE, SAMPLE_RATE // per_frame, tokenizer_config["embed_dim"])
    if generator != tokenizer:
        raise WeightsError(
            "The generator and the audio tokenizer do not belong together: the generator makes "
            f"{generator[2]}-wide latents at {generator[1]} frames/s for {generator[0]} Hz audio, "
            f"the tokenizer decodes {tokenizer[2]}-wide latents at {tokenizer[1]} frames/s to "
            f"{tokenizer[0]} Hz. Use the official pair (Dasheng-AudioGen and dashengtokenizer)."
        )
