"""Finding and loading the official Hugging Face snapshot folders.

A snapshot folder is what ``hf download <repo> --local-dir <folder>`` leaves: a ``config.json``
and the weights as ``*.safetensors`` (one file, or shards listed in
``model.safetensors.index.json``). Three are needed, under their Hub names:

    <model dir>/Dasheng-AudioGen/   generator (DiT, content adapter, duration head)
    <model dir>/dashengtokenizer/   audio tokenizer (latent <-> 16 kHz waveform)
    <model dir>/flan-t5-large/      text encoder (+ tokenizer.json)

Loading is strict and lean: modules are built on the meta device (no random weights are
allocated), every tensor is read lazily from safetensors and converted straight to its final
device and dtype, and any missing, unexpected or mis-shaped key is named in the error. Pickle
formats (.bin, .pt, .ckpt, .pth) are never opened: unpickling can run arbitrary code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from .derived_buffers import derived_buffer_keys, reset_derived_buffers
from .ops import resolve_operations, storage_dtypes, to_storage

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
SNAPSHOTS = (GENERATOR, AUDIO_TOKENIZER, TEXT_ENCODER)
HUB_REPOS = {kind.role: (kind.repo_id, kind.folder_name) for kind in SNAPSHOTS}

# Files worth downloading: configs, safetensors and tokenizer files; never pickles, TF/Flax
# weights or remote code (this package is the code).
DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt"]


class WeightsError(RuntimeError):
    """A snapshot folder or weight file is missing, unsafe or does not fit the model."""


def download_command(kind: SnapshotKind, folder: Path) -> str:
    return f"hf download {kind.repo_id} --local-dir {folder}"


def expected_layout_message(model_dir: Path | str) -> str:
    """Where the three snapshots are expected under ``model_dir`` and how to fetch them."""
    root = Path(model_dir)
    lines = [f"Expected the official snapshot folders under {root}:"]
    for kind in SNAPSHOTS:
        lines.append(f"  {root / kind.folder_name}/  {kind.description}")
    lines.append(
        "Download them (huggingface_hub >= 0.34 installs the `hf` command; older versions "
        "call it `huggingface-cli download`):"
    )
    for kind in SNAPSHOTS:
        lines.append(f"  {download_command(kind, root / kind.folder_name)}")
    return "\n".join(lines)


def resolve_model_dirs(model_dir: Path | str) -> dict[str, Path]:
    """The three snapshot folders inside one model directory, by role."""
    root = Path(model_dir)
    return {kind.role: root / kind.folder_name for kind in SNAPSHOTS}


# --------------------------------------------------------------------------- snapshot folders


def _refuse_pickle(path: Path) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise WeightsError(
            f"{path} is a pickle checkpoint ({path.suffix}); it is never loaded because "
            "unpickling can run arbitrary code. Use the official safetensors files instead "
            "(`hf download <repo> --include '*.safetensors' '*.json'`)."
        )


def read_config(folder: Path, kind: SnapshotKind) -> dict:
    """Read and sanity-check ``config.json`` of a snapshot folder."""
    folder = Path(folder)
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
    if not config_path.is_file():
        raise WeightsError(
            f"{folder} has no config.json, so it is not a complete {kind.description} snapshot.\n"
            f"Download it with: {download_command(kind, folder)}"
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{config_path} is not valid JSON ({exc}); download it again.") from exc
    model_type = config.get("model_type")
    if model_type not in kind.model_types:
        found = _describe_model_type(model_type)
        raise WeightsError(
            f"{folder} holds {found}, not the {kind.description} "
            f"(config.json model_type {model_type!r}, expected {kind.model_types[0]!r}). "
            f"Pick the {kind.folder_name} folder."
        )
    return config


def _describe_model_type(model_type: object) -> str:
    for kind in SNAPSHOTS:
        if model_type in kind.model_types:
            return f"the {kind.description}"
    return f"an unknown model ({model_type!r})"


def safetensors_files(folder: Path) -> list[Path]:
    """The weight files of a snapshot: the shards of the index, or every *.safetensors file."""
    index = folder / INDEX_FILE
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise WeightsError(f"{index} is not a valid safetensors index ({exc}).") from exc
        files = sorted({folder / name for name in weight_map.values()})
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise WeightsError(
                f"{folder} is missing shard(s) {', '.join(missing)} listed in "
                f"{INDEX_FILE}; finish the download."
            )
        return files
    files = sorted(folder.glob("*.safetensors"))
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
    return files


class _LazyCheckpoint:
    """Key -> file map over one or more safetensors files, read one tensor at a time."""

    def __init__(self, files: Iterable[Path]):
        self._handles = {}
        self.key_file: dict[str, Path] = {}
        for path in files:
            try:
                handle = safe_open(str(path), framework="pt", device="cpu")
            except (SafetensorError, OSError, ValueError) as exc:
                raise WeightsError(
                    f"{path} is not a readable safetensors file ({exc}). It is probably truncated "
                    "or corrupt: delete it and download it again."
                ) from exc
            self._handles[path] = handle
            for key in handle.keys():
                if key in self.key_file:
                    raise WeightsError(
                        f"key {key!r} is stored twice ({self.key_file[key].name} and "
                        f"{path.name}); keep one copy of the weights per folder."
                    )
                self.key_file[key] = path

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._handles[self.key_file[key]].get_slice(key).get_shape())

    def tensor(self, key: str) -> torch.Tensor:
        path = self.key_file[key]
        try:
            return self._handles[path].get_tensor(key)
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise WeightsError(
                f"could not read {key!r} from {path} ({exc}); the file is "
                "probably truncated: download it again."
            ) from exc


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
    if missing or unexpected or mismatched:
        raise WeightsError(_mismatch_message(source, missing, unexpected, mismatched))

    state: dict[str, torch.Tensor] = {}
    for key, target in expected.items():
        if key in file_key_for:
            tensor = checkpoint.tensor(file_key_for[key])
        else:  # optional: a placeholder that reset_derived_buffers() overwrites
            tensor = torch.zeros(target.shape, dtype=target.dtype)
        if tensor.is_floating_point():
            tensor = to_storage(tensor, (dtypes or {}).get(key, dtype), key)
        state[key] = tensor.to(device=device)
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
        text += listing("shape mismatches", mismatched)
    return text + (
        "\nMake sure the folder holds the complete, unmodified official snapshot "
        "(re-download it if a file was cut short or replaced)."
    )


def build_on_meta(factory: Callable[[], nn.Module]) -> nn.Module:
    """Build a module without allocating its (random) weights."""
    with torch.device("meta"):
        return factory()


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
    from .generator import DashengAudioGenerator

    folder = Path(folder)
    config = read_config(folder, GENERATOR)
    operations = resolve_operations(operations, dtype, weight_dtype)
    model = build_on_meta(lambda: DashengAudioGenerator.from_config(config, operations))
    load_safetensors_into(
        model,
        safetensors_files(folder),
        torch.device(device),
        dtype,
        source=str(folder),
        dtypes=storage_dtypes(model, dtype, weight_dtype),
    )
    # The reference prefers a tokenizer.json shipped with the generator over flan-t5's own.
    bundled = folder / "tokenizer.json"
    if bundled.is_file():
        from .text_encoder import T5Tokenizer

        model.bundled_tokenizer = T5Tokenizer.from_file(bundled)
    return model


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
    from .audio_tokenizer import DashengAudioTokenizer

    folder = Path(folder)
    config = read_config(folder, AUDIO_TOKENIZER)
    operations = resolve_operations(operations, dtype, weight_dtype)
    model = build_on_meta(
        lambda: DashengAudioTokenizer.from_config(config, include_encoder, operations)
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
    """Load flan-t5-large's encoder half and its tokenizer.json.

    ``dtype``, ``weight_dtype`` and ``operations`` as for :func:`load_generator`.
    """
    from .text_encoder import T5Encoder, T5Tokenizer, TextEncoder

    folder = Path(folder)
    config = read_config(folder, TEXT_ENCODER)
    tokenizer_path = Path(tokenizer_file) if tokenizer_file else folder / "tokenizer.json"
    if not tokenizer_path.is_file():
        raise WeightsError(
            f"{tokenizer_path} is missing: the text encoder needs the tokenizer.json of "
            f"{TEXT_ENCODER.repo_id}.\nDownload it with: {download_command(TEXT_ENCODER, folder)}"
        )
    operations = resolve_operations(operations, dtype, weight_dtype)
    model = build_on_meta(lambda: T5Encoder.from_config(config, operations))
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
        model, T5Tokenizer.from_file(tokenizer_path), max_length=min(max_length, 512)
    )


# --------------------------------------------------------------------------- download


def download_snapshots(
    model_dir: Path | str, roles: Iterable[str] | None = None
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
            "or fetch the folders yourself:\n" + expected_layout_message(model_dir)
        ) from exc
    wanted = set(roles) if roles is not None else {kind.role for kind in SNAPSHOTS}
    folders = resolve_model_dirs(model_dir)
    for kind in SNAPSHOTS:
        folder = folders[kind.role]
        if kind.role not in wanted or _looks_complete(folder):
            continue
        try:
            snapshot_download(
                repo_id=kind.repo_id, local_dir=str(folder), allow_patterns=DOWNLOAD_PATTERNS
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
