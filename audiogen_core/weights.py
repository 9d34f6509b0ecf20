"""Finding and loading the official Hugging Face snapshot folders.

A snapshot folder is what ``hf download <repo> --local-dir <folder>`` leaves: a ``config.json``
and the weights as ``*.safetensors`` (one file, or shards listed in
``model.safetensors.index.json``). Three are needed, under their Hub names:

    <model dir>/Dasheng-AudioGen/   generator (DiT, content adapter, duration head)
    <model dir>/dashengtokenizer/   audio tokenizer (latent <-> 16 kHz waveform)
    <model dir>/flan-t5-large/      text encoder (+ tokenizer.json)

Loading is strict and lean: modules are built on the meta device (no random weights are
allocated), every tensor is read from safetensors one at a time (plain reads, no memory map
left behind) and converted straight to its final device and dtype, and any missing,
unexpected or mis-shaped key is named in the error. Pickle
formats (.bin, .pt, .ckpt, .pth) are never opened: unpickling can run arbitrary code.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from .derived_buffers import derived_buffer_keys, reset_derived_buffers

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
        return source.to(device=device, dtype=target, copy=True)

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
) -> nn.Module:
    """Fill a meta-device ``model`` from safetensors files, checking every key and shape.

    Floating-point tensors are converted to ``dtype``; integer buffers keep their type.
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
            state[key] = checkpoint.tensor(file_key_for[key], device, dtype)
        else:  # optional: a placeholder that reset_derived_buffers() overwrites
            placeholder_dtype = dtype if target.dtype.is_floating_point else target.dtype
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
    folder: Path | str, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
):
    """Load the Dasheng-AudioGen generator snapshot (config.json + safetensors)."""
    from .generator import DashengAudioGenerator

    folder = Path(folder)
    config = read_config(folder, GENERATOR)
    model = build_on_meta(lambda: DashengAudioGenerator.from_config(config))
    load_safetensors_into(
        model, safetensors_files(folder), torch.device(device), dtype, source=str(folder)
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
):
    """Load the DashengTokenizer snapshot; without the encoder only the decode path is kept."""
    from .audio_tokenizer import DashengAudioTokenizer

    folder = Path(folder)
    config = read_config(folder, AUDIO_TOKENIZER)
    model = build_on_meta(
        lambda: DashengAudioTokenizer.from_config(config, include_encoder=include_encoder)
    )
    ignored = () if include_encoder else ("encoder.",)
    return load_safetensors_into(
        model,
        safetensors_files(folder),
        torch.device(device),
        dtype,
        ignored_prefixes=ignored,
        source=str(folder),
    )


def load_text_encoder(
    folder: Path | str,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    tokenizer_file: Path | str | None = None,
):
    """Load flan-t5-large's encoder half and its tokenizer.json."""
    from .text_encoder import T5Encoder, T5Tokenizer, TextEncoder

    folder = Path(folder)
    config = read_config(folder, TEXT_ENCODER)
    tokenizer_path = Path(tokenizer_file) if tokenizer_file else folder / "tokenizer.json"
    if not tokenizer_path.is_file():
        raise WeightsError(
            f"{tokenizer_path} is missing: the text encoder needs the tokenizer.json of "
            f"{TEXT_ENCODER.repo_id}.\nDownload it with: {download_command(TEXT_ENCODER, folder)}"
        )
    model = build_on_meta(lambda: T5Encoder.from_config(config))
    load_safetensors_into(
        model, safetensors_files(folder), torch.device(device), dtype, source=str(folder)
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
