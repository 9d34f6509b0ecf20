"""Finding and loading the official Hugging Face snapshot folders.

A snapshot folder is what ``hf download <repo> --local-dir <folder>`` leaves: a ``config.json``
and the weights as ``*.safetensors`` (one file, or shards listed in
``model.safetensors.index.json``). Three are needed, under their Hub names:

    <model dir>/Dasheng-AudioGen/   generator (DiT, content adapter, duration head)
    <model dir>/dashengtokenizer/   audio tokenizer (latent <-> 16 kHz waveform)
    <model dir>/flan-t5-large/      text encoder (+ tokenizer.json)

The multilingual checkpoint has the same layout with its own generator and text encoder:

    <model dir>/Dasheng-AudioGen-Multilingual/   generator conditioned on mT5
    <model dir>/dashengtokenizer/                the same audio tokenizer
    <model dir>/mt5-large/                       text encoder (+ spiece.model)

Each generator works only with the text encoder it was trained with; its config.json names
it (``text_encoder_name``), and a mismatched pair is refused before any weight is read.

Loading is strict and lean: modules are built on the meta device (no random weights are
allocated), every tensor is read from safetensors one at a time (plain reads, no memory map
left behind) and converted straight to its final device and dtype, and any missing,
unexpected or mis-shaped key is named in the error. Pickle
formats (.bin, .pt, .ckpt, .pth) are never opened: unpickling can run arbitrary code.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from ..models.derived_buffers import derived_buffer_keys, reset_derived_buffers
from ..models.ops import resolve_operations, storage_dtypes, to_storage

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
INDEX_FILE = "model.safetensors.index.json"
# Where the CLI and the nodes (without ComfyUI) look for the three snapshots by default.
DEFAULT_MODEL_DIR_ENV = "AUDIOGEN_MODEL_DIR"


@dataclass(frozen=True)
class SnapshotKind:
    """One of the three official snapshots: where it comes from and how to recognise it."""

    role: str  # "generator" | "audio_tokenizer" | "text_encoder"
    repo_id: str
    folder_name: str
    description: str
    model_types: tuple[str, ...]  # accepted config.json "model_type" values
    # Hub revision to fetch; google/mt5-large has safetensors weights only on the Hub's
    # automatic conversion branch, its main branch holds pickles and TF/Flax files.
    revision: str | None = None


GENERATOR = SnapshotKind(
    "generator",
    "mispeech/Dasheng-AudioGen",
    "Dasheng-AudioGen",
    "generator (DiT + content adapter)",
    ("dasheng_audiogen",),
)
AUDIO_TOKENIZER = SnapshotKind(
    "audio_tokenizer",
    "mispeech/dashengtokenizer",
    "dashengtokenizer",
    "audio tokenizer (DashengTokenizer)",
    ("dashengtokenizer",),
)
TEXT_ENCODER = SnapshotKind(
    "text_encoder", "google/flan-t5-large", "flan-t5-large", "text encoder (flan-t5-large)", ("t5",)
)
MULTILINGUAL_GENERATOR = SnapshotKind(
    "generator",
    "mispeech/Dasheng-AudioGen-Multilingual",
    "Dasheng-AudioGen-Multilingual",
    "multilingual generator (DiT + content adapter, mT5 conditioning)",
    ("dasheng_audiogen",),
)
MULTILINGUAL_TEXT_ENCODER = SnapshotKind(
    "text_encoder",
    "google/mt5-large",
    "mt5-large",
    "text encoder (mt5-large)",
    ("mt5",),
    revision="refs/pr/2",
)
SNAPSHOTS = (GENERATOR, AUDIO_TOKENIZER, TEXT_ENCODER)
MULTILINGUAL_SNAPSHOTS = (MULTILINGUAL_GENERATOR, AUDIO_TOKENIZER, MULTILINGUAL_TEXT_ENCODER)
# Text-encoder families a generator can be paired with, by the Hub name in its config.
T5_FAMILY = "t5"
MT5_FAMILY = "mt5"
# mT5's sentencepiece vocabulary (250,112 rows); flan-t5 has 32,128. A T5-type config with a
# vocabulary this large is an mT5 checkpoint saved with model_type "t5" by older tools.
MT5_MIN_VOCAB = 200_000

# What each model reads from its config.json, and what each value must be: "count" a whole
# number >= 1, "positive" a number > 0, "number" any finite number. Checked before anything
# is built, so a damaged file is named with its key instead of failing deep inside a module.
_CONFIG_FIELDS: dict[str, dict[str, str]] = {
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
_OPTIONAL_CONFIG_FIELDS: dict[str, dict[str, str]] = {
    "text_encoder": {
        "relative_attention_max_distance": "count",
        "layer_norm_epsilon": "positive",
        "n_positions": "count",
    },
}
# First bytes of the pickle formats that are sometimes renamed to .safetensors: torch.save's
# zip archive, and a bare pickle (protocol 2 and later start with the PROTO opcode 0x80).
_PICKLE_MAGIC = (
    (b"PK\x03\x04", "a zip archive (torch.save's pickle format)"),
    *((bytes([0x80, protocol]), f"a pickle (protocol {protocol})") for protocol in range(2, 6)),
)

# Files worth downloading: configs, safetensors and tokenizer files; never pickles, TF/Flax
# weights or remote code (this package is the code).
DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt"]


class WeightsError(RuntimeError):
    """A snapshot folder or weight file is missing, unsafe or does not fit the model."""


def include_arguments() -> str:
    """DOWNLOAD_PATTERNS as ``hf download --include`` arguments (the one list for the
    ``download`` command, every hint and the docs)."""
    return " ".join(f'"{pattern}"' for pattern in DOWNLOAD_PATTERNS)


def download_command(kind: SnapshotKind, folder: Path) -> str:
    """The ``hf download`` line for one snapshot, fetching only what is ever loaded."""
    revision = f" --revision {kind.revision}" if kind.revision else ""
    return (
        f"hf download {kind.repo_id}{revision} --local-dir {folder} --include {include_arguments()}"
    )


def snapshot_set(multilingual: bool = False) -> tuple[SnapshotKind, ...]:
    """The three snapshots of the English or of the multilingual checkpoint."""
    return MULTILINGUAL_SNAPSHOTS if multilingual else SNAPSHOTS


def expected_layout_message(model_dir: Path | str, multilingual: bool = False) -> str:
    """Where the three snapshots are expected under ``model_dir`` and how to fetch them."""
    root = Path(model_dir)
    kinds = snapshot_set(multilingual)
    which = "multilingual " if multilingual else ""
    lines = [f"Expected the official {which}snapshot folders under {root}:"]
    for kind in kinds:
        lines.append(f"  {root / kind.folder_name}/  {kind.description}")
    lines.append(
        "Download them (huggingface_hub >= 0.34 installs the `hf` command; older versions "
        "call it `huggingface-cli download`):"
    )
    for kind in kinds:
        lines.append(f"  {download_command(kind, root / kind.folder_name)}")
    return "\n".join(lines)


def resolve_model_dirs(model_dir: Path | str, multilingual: bool = False) -> dict[str, Path]:
    """The three snapshot folders inside one model directory, by role."""
    root = Path(model_dir)
    return {kind.role: root / kind.folder_name for kind in snapshot_set(multilingual)}


# --------------------------------------------------------------------------- snapshot folders


def _refuse_pickle(path: Path) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise WeightsError(
            f"{path} is a pickle checkpoint ({path.suffix}); it is never loaded because "
            "unpickling can run arbitrary code. Use the official safetensors files instead "
            f"(`hf download <repo> --include {include_arguments()}`)."
        )


def read_config(folder: Path, kind: SnapshotKind) -> dict:
    """Read and check ``config.json`` of a snapshot folder: an object, the right model type,
    and every field the model reads present with a value of the right kind."""
    folder = Path(folder)
    _refuse_link_loop(folder)
    if folder.is_file():
        _refuse_pickle(folder)
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
    _refuse_link_loop(config_path)
    if config_path.is_dir():
        raise WeightsError(f"{config_path} is a folder, not a file; download config.json again.")
    if not config_path.is_file():
        raise WeightsError(
            f"{folder} has no config.json, so it is not a complete {kind.description} snapshot.\n"
            f"Download it with: {download_command(kind, folder)}"
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{config_path} is not valid JSON ({exc}); download it again.") from exc
    except OSError as exc:
        raise WeightsError(f"{config_path} cannot be read ({exc.strerror or exc}).") from exc
    if not isinstance(config, dict):
        raise WeightsError(
            f"{config_path} must hold a JSON object ({{...}}), but holds "
            f"{_json_kind(config)}; download it again."
        )
    model_type = config.get("model_type")
    if model_type not in kind.model_types:
        found = _describe_model_type(model_type)
        raise WeightsError(
            f"{folder} holds {found}, not the {kind.description} "
            f"(config.json model_type {model_type!r}, expected {kind.model_types[0]!r}). "
            f"Pick the {kind.folder_name} folder."
        )
    for key, rule in _CONFIG_FIELDS.get(kind.role, {}).items():
        if key not in config:
            raise WeightsError(
                f"{config_path} has no {key!r} entry; download the official config.json again."
            )
        _check_config_value(config_path, key, config[key], rule)
    for key, rule in _OPTIONAL_CONFIG_FIELDS.get(kind.role, {}).items():
        if config.get(key) is not None:
            _check_config_value(config_path, key, config[key], rule)
    return config


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


def _json_kind(value: object) -> str:
    names = {list: "a list", str: "a string", type(None): "null", bool: "a boolean"}
    return names.get(type(value), "a number")


def _refuse_link_loop(path: Path) -> None:
    """A symbolic link that loops (or chains too deep) reads as "missing" everywhere; say so."""
    if not path.is_symlink():
        return
    try:
        path.resolve(strict=True)
    except FileNotFoundError:
        return  # a dangling link: reported as missing by the caller
    except (OSError, RuntimeError) as exc:  # ELOOP; RuntimeError on older Pythons
        raise WeightsError(
            f"{path} is a symbolic link that points back to itself (a link loop); "
            "replace it with the real file or folder."
        ) from exc


def check_snapshot(folder: Path | str, kind: SnapshotKind) -> list[Path]:
    """Everything about a snapshot folder that can be checked without reading tensors:
    config.json, and the weight files (index entries, presence, pickles in disguise)."""
    folder = Path(folder)
    read_config(folder, kind)
    return safetensors_files(folder)


def check_rates_agree(generator_config: dict, tokenizer_config: dict) -> None:
    """The generator's latent must be the one the audio tokenizer decodes: same sample rate,
    frame rate and latent width. A mismatch would decode at the wrong speed or not at all."""
    from ..models.audio_tokenizer.encoder import SAMPLE_RATE

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


def _describe_model_type(model_type: object) -> str:
    for kind in (*SNAPSHOTS, MULTILINGUAL_TEXT_ENCODER):
        if model_type in kind.model_types:
            return f"the {kind.description}"
    return f"an unknown model ({model_type!r})"


def safetensors_files(folder: Path) -> list[Path]:
    """The weight files of a snapshot: the shards of the index, or every *.safetensors file."""
    index = folder / INDEX_FILE
    if index.is_file():
        files = [folder / name for name in _index_shards(index)]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise WeightsError(
                f"{folder} is missing shard(s) {', '.join(missing)} listed in "
                f"{INDEX_FILE}; finish the download."
            )
    else:
        files = sorted(folder.glob("*.safetensors"))
    for path in files:
        _refuse_link_loop(path)
    if not files:
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        hint = (
            f" It holds only pickle checkpoints ({', '.join(pickles)}), which are never "
            "loaded because unpickling can run arbitrary code."
            if pickles
            else ""
        )
        raise WeightsError(
            f"{folder} contains no .safetensors weights.{hint} Download the "
            "safetensors files of the official snapshot."
        )
    for path in files:
        _refuse_disguised_pickle(path)
    return files


def _index_shards(index: Path) -> list[str]:
    """The shard names of a safetensors index, each a plain file name inside the folder."""
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{index} is not valid JSON ({exc}); download it again.") from exc
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict):
        raise WeightsError(
            f"{index}: 'weight_map' must be a JSON object mapping tensor names to shard files, "
            f"got {_json_kind(weight_map)}; download the index again."
        )
    names = set()
    for key, name in weight_map.items():
        if not isinstance(name, str) or not name:
            raise WeightsError(
                f"{index}: the entry for {key!r} must be a shard file name, got {json.dumps(name)}."
            )
        # Shards live in the snapshot folder; an absolute path or ".." could point anywhere.
        parts = PurePath(name).parts
        if PurePath(name).is_absolute() or ".." in parts or os.path.isabs(name):
            raise WeightsError(
                f"{index}: the entry for {key!r} points outside the snapshot folder ({name!r}); "
                "shards must be files in the folder itself. Download the index again."
            )
        names.add(name)
    return sorted(names)


def _refuse_disguised_pickle(path: Path) -> None:
    """A pickle renamed to .safetensors is refused for what it is, without unpickling it."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
    except OSError as exc:
        raise WeightsError(f"{path} cannot be read ({exc.strerror or exc}).") from exc
    if head[8:9] == b"{":
        return  # an 8-byte header length, then the JSON header: safetensors
    for magic, what in _PICKLE_MAGIC:
        if head.startswith(magic):
            raise WeightsError(
                f"{path} is {what}, not safetensors, despite its name; it is never loaded "
                "because unpickling can run arbitrary code. Download the official safetensors "
                "files instead."
            )


# safetensors dtype names -> torch dtypes (the format's own spelling, little-endian data).
_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


@dataclass(frozen=True)
class _StoredTensor:
    path: Path
    dtype: torch.dtype
    shape: tuple[int, ...]
    offset: int  # absolute byte offset of the data in the file
    nbytes: int


class _LazyCheckpoint:
    """Key -> location map over one or more safetensors files, read one tensor at a time.

    Nothing stays memory-mapped: safetensors itself checks each file's header (and closes it
    again), then every tensor is read with plain file reads into memory the caller owns.
    A memory map would keep every page it ever read resident for as long as one tensor
    viewing it lives, so loading fp32 weights into bf16 would hold the whole fp32 file.
    """

    def __init__(self, files: Iterable[Path]):
        self.entries: dict[str, _StoredTensor] = {}
        for path in files:
            for key, entry in _read_header(path).items():
                if key in self.entries:
                    raise WeightsError(
                        f"key {key!r} is stored twice ({self.entries[key].path.name} and "
                        f"{path.name}); keep one copy of the weights per folder."
                    )
                self.entries[key] = entry
        self.key_file: dict[str, Path] = {key: e.path for key, e in self.entries.items()}
        self._scratch = torch.empty(0, dtype=torch.uint8)

    def shape(self, key: str) -> tuple[int, ...]:
        return self.entries[key].shape

    def is_floating(self, key: str) -> bool:
        """Whether the stored dtype is a float type (F16, BF16, F32, F8_E4M3, ...)."""
        return self.entries[key].dtype.is_floating_point

    def tensor(
        self, key: str, device: torch.device, dtype: torch.dtype | None = None
    ) -> torch.Tensor:
        """The tensor ``key`` on ``device``; floating-point ones converted to ``dtype``.

        Other tensors (integer buffers) keep their type. The result always owns its memory.
        A tensor that needs no conversion is read straight into its final buffer; one that
        is converted is read into a reusable scratch buffer first, so converting costs one
        tensor's worth of extra memory, not the file's.
        """
        entry = self.entries[key]
        target = dtype if dtype is not None and entry.dtype.is_floating_point else entry.dtype
        if target == entry.dtype and device.type == "cpu":
            return self._read(entry, torch.empty(entry.nbytes, dtype=torch.uint8))
        if self._scratch.numel() < entry.nbytes:
            self._scratch = torch.empty(0, dtype=torch.uint8)  # free before allocating anew
            self._scratch = torch.empty(entry.nbytes, dtype=torch.uint8)
        source = self._read(entry, self._scratch[: entry.nbytes])
        if target != entry.dtype:
            # A fresh tensor, refused if the storage dtype cannot hold its values (fp8, fp16).
            return to_storage(source, target, key).to(device)
        return source.to(device=device, copy=True)

    def release(self) -> None:
        """Drop the scratch buffer (the loader calls this once every tensor is read)."""
        self._scratch = torch.empty(0, dtype=torch.uint8)

    @staticmethod
    def _read(entry: _StoredTensor, buffer: torch.Tensor) -> torch.Tensor:
        view = memoryview(buffer.numpy()).cast("B")
        done = 0
        try:
            with open(entry.path, "rb", buffering=0) as handle:
                handle.seek(entry.offset)
                while done < entry.nbytes:
                    count = handle.readinto(view[done:])
                    if not count:
                        break
                    done += count
        except OSError as exc:
            raise WeightsError(
                f"could not read a tensor from {entry.path} ({exc}); download it again."
            ) from exc
        if done != entry.nbytes:
            raise WeightsError(
                f"{entry.path} ends before its tensors do; the file is probably truncated: "
                "download it again."
            )
        return buffer.view(entry.dtype).view(entry.shape)


def _read_header(path: Path) -> dict[str, _StoredTensor]:
    """Tensor locations of one safetensors file, its header validated by safetensors."""
    try:
        with safe_open(str(path), framework="pt", device="cpu"):
            pass  # the library's checks: header size, offsets, dtypes, file length
        with open(path, "rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(header_size))
    except (SafetensorError, OSError, ValueError, struct.error) as exc:
        raise WeightsError(
            f"{path} is not a readable safetensors file ({exc}). It is probably truncated "
            "or corrupt: delete it and download it again."
        ) from exc
    data_start = 8 + header_size
    entries = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            raise WeightsError(
                f"{path}: tensor {key!r} has dtype {info['dtype']}, which this loader does not "
                f"read (supported: {', '.join(_SAFETENSORS_DTYPES)})."
            )
        begin, end = info["data_offsets"]
        entries[key] = _StoredTensor(
            path, dtype, tuple(int(n) for n in info["shape"]), data_start + begin, end - begin
        )
    return entries


# --------------------------------------------------------------------------- state-dict loading


def _optional_keys(model: nn.Module) -> set[str]:
    """Keys a checkpoint may lack: derived buffers (recomputed) and zero-size placeholders."""
    empty = {k for k, v in model.state_dict(keep_vars=True).items() if v.numel() == 0}
    return derived_buffer_keys(model) | empty


def load_safetensors_into(
    model: nn.Module,
    files: Iterable[Path],
    device: torch.device,
    dtype: torch.dtype,
    ignored_prefixes: tuple[str, ...] = (),
    source: str = "",
    dtypes: Mapping[str, torch.dtype] | None = None,
) -> nn.Module:
    """Fill a meta-device ``model`` from safetensors files, checking every key and shape.

    Floating-point tensors are converted to ``dtypes[key]`` when given, else to ``dtype``;
    integer buffers keep their type.
    Derived buffers are recomputed rather than trusted, so their presence in the file is
    optional. Raises WeightsError naming missing, unexpected and mis-shaped keys.
    """
    checkpoint = _LazyCheckpoint(files)
    expected = model.state_dict(keep_vars=True)
    aliases: dict[str, str] = getattr(model, "CHECKPOINT_ALIASES", {})
    ignored = tuple(getattr(model, "IGNORED_CHECKPOINT_PREFIXES", ())) + tuple(ignored_prefixes)
    optional = _optional_keys(model)

    file_key_for = {key: key for key in expected if key in checkpoint.key_file}
    for alias, ours in aliases.items():
        if ours in expected and ours not in file_key_for and alias in checkpoint.key_file:
            file_key_for[ours] = alias

    used = set(file_key_for.values())
    missing = sorted(k for k in expected if k not in file_key_for and k not in optional)
    unexpected = sorted(
        k
        for k in checkpoint.key_file
        if k not in used and k not in expected and k not in aliases and not k.startswith(ignored)
    )
    mismatched = [
        f"{key}: file {list(checkpoint.shape(file_key))}, model {list(expected[key].shape)}"
        for key, file_key in file_key_for.items()
        if checkpoint.shape(file_key) != tuple(expected[key].shape)
    ]
    mismatched += [
        f"{key}: file holds {'floats' if stored else 'integers'}, model needs "
        f"{'floats' if expected[key].is_floating_point() else 'integers'}"
        for key, file_key in file_key_for.items()
        if (stored := checkpoint.is_floating(file_key)) != expected[key].is_floating_point()
    ]
    if missing or unexpected or mismatched:
        raise WeightsError(_mismatch_message(source, missing, unexpected, mismatched))

    state: dict[str, torch.Tensor] = {}
    for key, target in expected.items():
        if key in file_key_for:
            storage = (dtypes or {}).get(key, dtype)
            state[key] = checkpoint.tensor(file_key_for[key], device, storage)
        else:  # optional: a placeholder that reset_derived_buffers() overwrites
            storage = (dtypes or {}).get(key, dtype)
            placeholder_dtype = storage if target.dtype.is_floating_point else target.dtype
            state[key] = torch.zeros(target.shape, dtype=placeholder_dtype, device=device)
    checkpoint.release()
    model.load_state_dict(state, strict=True, assign=True)
    reset_derived_buffers(model)
    return model.eval().requires_grad_(False)


def _mismatch_message(
    source: str, missing: list[str], unexpected: list[str], mismatched: list[str]
) -> str:
    def listing(title: str, items: list[str]) -> str:
        shown = "\n    ".join(items[:20])
        more = f"\n    ... and {len(items) - 20} more" if len(items) > 20 else ""
        return f"\n  {title} ({len(items)}):\n    {shown}{more}"

    text = (
        f"The weights in {source or 'the checkpoint'} do not fit the model built from "
        "its config.json."
    )
    if missing:
        text += listing("missing keys", missing)
    if unexpected:
        text += listing("unexpected keys", unexpected)
    if mismatched:
        text += listing("shape or type mismatches", mismatched)
    return text + (
        "\nMake sure the folder holds the complete, unmodified official snapshot "
        "(re-download it if a file was cut short or replaced)."
    )


def build_on_meta(factory: Callable[[], nn.Module], folder: Path | None = None) -> nn.Module:
    """Build a module without allocating its (random) weights.

    A config the module refuses (a ValueError from its constructor) is a WeightsError naming
    the folder's config.json.
    """
    with torch.device("meta"):
        try:
            return factory()
        except ValueError as exc:
            if folder is None:
                raise
            raise WeightsError(f"{Path(folder) / 'config.json'}: {exc}") from exc


# --------------------------------------------------------------------------- pairing


def generator_text_encoder_family(config: dict) -> str:
    """``"mt5"`` or ``"t5"``: the text encoder a generator config names (flan-t5 if absent)."""
    name = str(config.get("text_encoder_name") or TEXT_ENCODER.repo_id)
    return MT5_FAMILY if "mt5" in name.rsplit("/", 1)[-1].lower() else T5_FAMILY


def text_encoder_family(config: dict) -> str:
    """``"mt5"`` or ``"t5"`` from a T5 config.json: its model_type, else its vocabulary size."""
    if config.get("model_type") == "mt5":
        return MT5_FAMILY
    vocab_size = config.get("vocab_size")
    return MT5_FAMILY if isinstance(vocab_size, int) and vocab_size >= MT5_MIN_VOCAB else T5_FAMILY


def _family_kinds(family: str) -> tuple[SnapshotKind, SnapshotKind]:
    """(generator kind, text encoder kind) of the checkpoint trained with ``family``."""
    if family == MT5_FAMILY:
        return MULTILINGUAL_GENERATOR, MULTILINGUAL_TEXT_ENCODER
    return GENERATOR, TEXT_ENCODER


def pairing_error(
    generator_family: str, generator_source: object, encoder_family: str, encoder_source: object
) -> WeightsError | None:
    """The error for a generator paired with the other checkpoint's text encoder, else None."""
    if generator_family == encoder_family:
        return None
    _, wanted_encoder = _family_kinds(generator_family)
    other_generator, given_encoder = _family_kinds(encoder_family)
    return WeightsError(
        f"The generator {generator_source} was trained with {wanted_encoder.repo_id}, but the "
        f"text encoder {encoder_source} is {given_encoder.repo_id}. Use the "
        f"{wanted_encoder.folder_name} folder with this generator, or the "
        f"{other_generator.folder_name} generator with this text encoder."
    )


def check_folder_pairing(generator_dir: Path | str, text_encoder_dir: Path | str) -> None:
    """Refuse a mismatched generator / text-encoder pair from their configs, before loading."""
    generator_dir, text_encoder_dir = Path(generator_dir), Path(text_encoder_dir)
    generator_config = read_config(generator_dir, GENERATOR)
    encoder_config = read_config(text_encoder_dir, text_encoder_kind(text_encoder_dir))
    error = pairing_error(
        generator_text_encoder_family(generator_config),
        generator_dir,
        text_encoder_family(encoder_config),
        text_encoder_dir,
    )
    if error:
        raise error


def check_model_pairing(generator, text_encoder) -> None:
    """The same check on loaded models (the nodes load them separately)."""
    error = pairing_error(
        generator.text_encoder_family,
        generator.source_folder or "in use",
        getattr(text_encoder, "family", T5_FAMILY),
        getattr(text_encoder, "source_folder", "in use"),
    )
    if error:
        raise error


def text_encoder_kind(folder: Path) -> SnapshotKind:
    """The flan-t5 or mt5 kind, from a peek at config.json (read_config then validates it)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return TEXT_ENCODER
    if isinstance(config, dict) and config.get("model_type") == "mt5":
        return MULTILINGUAL_TEXT_ENCODER
    return TEXT_ENCODER


# --------------------------------------------------------------------------- the three loaders


def load_generator(
    folder: Path | str,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    operations=None,
    weight_dtype: torch.dtype | None = None,
):
    """Load the Dasheng-AudioGen generator snapshot (config.json + safetensors).

    ``dtype`` is the compute dtype; ``weight_dtype`` (default: ``dtype``) stores the matrix
    weights, e.g. ``torch.float8_e4m3fn``. ``operations`` builds the layers (see
    :mod:`audiogen_core.ops`; default: torch's, or cast-on-the-fly ones when the two differ).
    """
    from ..models.generator import DashengAudioGenerator
    from ..models.text_encoder import T5Tokenizer

    folder = Path(folder)
    config = read_config(folder, GENERATOR)
    operations = resolve_operations(operations, dtype, weight_dtype)
    # The reference prefers a tokenizer.json shipped with the generator over flan-t5's own.
    bundled = folder / "tokenizer.json"
    tokenizer = T5Tokenizer.from_file(bundled) if bundled.is_file() else None
    model = build_on_meta(
        lambda: DashengAudioGenerator.from_config(
            config, operations, tokenizer=tokenizer, source_folder=folder
        ),
        folder,
    )
    return load_safetensors_into(
        model,
        safetensors_files(folder),
        torch.device(device),
        dtype,
        source=str(folder),
        dtypes=storage_dtypes(model, dtype, weight_dtype),
    )


def load_audio_tokenizer(
    folder: Path | str,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    include_encoder: bool = True,
    *,
    operations=None,
    weight_dtype: torch.dtype | None = None,
):
    """Load the DashengTokenizer snapshot; without the encoder only the decode path is kept.

    ``dtype``, ``weight_dtype`` and ``operations`` as for :func:`load_generator`.
    """
    from ..models.audio_tokenizer import DashengAudioTokenizer

    folder = Path(folder)
    config = read_config(folder, AUDIO_TOKENIZER)
    operations = resolve_operations(operations, dtype, weight_dtype)
    model = build_on_meta(
        lambda: DashengAudioTokenizer.from_config(config, include_encoder, operations), folder
    )
    ignored = () if include_encoder else ("encoder.",)
    return load_safetensors_into(
        model,
        safetensors_files(folder),
        torch.device(device),
        dtype,
        ignored_prefixes=ignored,
        source=str(folder),
        dtypes=storage_dtypes(model, dtype, weight_dtype),
    )


def load_text_encoder(
    folder: Path | str,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    tokenizer_file: Path | str | None = None,
    *,
    operations=None,
    weight_dtype: torch.dtype | None = None,
):
    """Load the encoder half of flan-t5-large or mt5-large and its tokenizer.

    The tokenizer is the folder's tokenizer.json (flan-t5), else its spiece.model converted
    once (mt5-large ships no tokenizer.json; see spiece_conversion). ``dtype``,
    ``weight_dtype`` and ``operations`` as for :func:`load_generator`.
    """
    from ..models.text_encoder import T5Encoder, T5Tokenizer, TextEncoder
    from .spiece import SentencePieceConversionError, load_spiece_tokenizer

    folder = Path(folder)
    kind = text_encoder_kind(folder)
    config = read_config(folder, kind)
    tokenizer_path = Path(tokenizer_file) if tokenizer_file else folder / "tokenizer.json"
    spiece_path = folder / "spiece.model"
    if not tokenizer_path.is_file() and (tokenizer_file or not spiece_path.is_file()):
        raise WeightsError(
            f"{tokenizer_path} is missing: the text encoder needs the tokenizer.json (or "
            f"spiece.model) of {kind.repo_id}.\nDownload it with: {download_command(kind, folder)}"
        )
    if tokenizer_path.is_file():
        tokenizer = T5Tokenizer.from_file(tokenizer_path)
    else:
        try:
            tokenizer = T5Tokenizer(load_spiece_tokenizer(folder))
        except SentencePieceConversionError as exc:
            raise WeightsError(str(exc)) from exc
    operations = resolve_operations(operations, dtype, weight_dtype)
    model = build_on_meta(lambda: T5Encoder.from_config(config, operations), folder)
    load_safetensors_into(
        model,
        safetensors_files(folder),
        torch.device(device),
        dtype,
        source=str(folder),
        dtypes=storage_dtypes(model, dtype, weight_dtype),
    )
    max_length = int(config.get("n_positions", 512) or 512)
    return TextEncoder(
        model,
        tokenizer,
        max_length=min(max_length, 512),
        family=text_encoder_family(config),
        source_folder=folder,
    )


# --------------------------------------------------------------------------- download


def download_snapshots(
    model_dir: Path | str, roles: Iterable[str] | None = None, multilingual: bool = False
) -> dict[str, Path]:
    """Fetch the official snapshots into ``model_dir`` with huggingface_hub (progress bars on).

    Only configs, safetensors and tokenizer files are fetched. Folders that already hold a
    config.json and weights are left alone.
    """
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise WeightsError(
            "Downloading needs huggingface_hub: `pip install huggingface_hub`, "
            "or fetch the folders yourself:\n" + expected_layout_message(model_dir, multilingual)
        ) from exc
    kinds = snapshot_set(multilingual)
    wanted = set(roles) if roles is not None else {kind.role for kind in kinds}
    folders = resolve_model_dirs(model_dir, multilingual)
    for kind in kinds:
        folder = folders[kind.role]
        if kind.role not in wanted or _looks_complete(folder):
            continue
        try:
            snapshot_download(
                repo_id=kind.repo_id,
                revision=kind.revision,
                local_dir=str(folder),
                allow_patterns=DOWNLOAD_PATTERNS,
            )
        except Exception as exc:  # network and hub errors come in many types
            raise WeightsError(
                f"Downloading {kind.repo_id} into {folder} failed: {exc}\n"
                "Check the connection (or HF_ENDPOINT / a token for gated repos) "
                "and try again."
            ) from exc
    return folders


def _looks_complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))
