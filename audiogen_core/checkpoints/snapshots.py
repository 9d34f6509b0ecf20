"""The official Hugging Face snapshots: what they are called, where they go, which belong together.

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
it (``text_encoder_name``), and a mismatched pair is refused before any weight is read
(``preflight.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..models.generator import MT5_FAMILY, T5_FAMILY
from .errors import WeightsError
from .gguf_layout import find_gguf_set, is_gguf

# Where the CLI and the nodes (without ComfyUI) look for the three snapshots by default.
DEFAULT_MODEL_DIR_ENV = "AUDIOGEN_MODEL_DIR"
# mT5's sentencepiece vocabulary (250,112 rows); flan-t5 has 32,128. A T5-type config with a
# vocabulary this large is an mT5 checkpoint saved with model_type "t5" by older tools.
MT5_MIN_VOCAB = 200_000


@dataclass(frozen=True)
class SnapshotKind:
    """One of the official snapshots: where it comes from and how to recognise it."""

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


def snapshot_set(multilingual: bool = False) -> tuple[SnapshotKind, ...]:
    """The three snapshots of the English or of the multilingual checkpoint."""
    return MULTILINGUAL_SNAPSHOTS if multilingual else SNAPSHOTS


def resolve_model_dirs(model_dir: Path | str, multilingual: bool = False) -> dict[str, Path]:
    """The three snapshot folders inside one model directory, by role; or, for a folder
    holding audiogen.cpp's GGUF set, its three files."""
    root = Path(model_dir)
    try:
        gguf_set = find_gguf_set(root)
    except ValueError as exc:
        raise WeightsError(str(exc)) from exc
    if gguf_set is not None:
        return gguf_set
    return snapshot_dirs(root, multilingual)


def snapshot_dirs(model_dir: Path | str, multilingual: bool = False) -> dict[str, Path]:
    """The three snapshot folders under their Hub names inside ``model_dir``, by role."""
    root = Path(model_dir)
    return {kind.role: root / kind.folder_name for kind in snapshot_set(multilingual)}


def text_encoder_family(config: dict) -> str:
    """``"mt5"`` or ``"t5"`` from a T5 config.json: its model_type, else its vocabulary size."""
    if config.get("model_type") == "mt5":
        return MT5_FAMILY
    vocab_size = config.get("vocab_size")
    return MT5_FAMILY if isinstance(vocab_size, int) and vocab_size >= MT5_MIN_VOCAB else T5_FAMILY


def text_encoder_kind(folder: Path) -> SnapshotKind:
    """The flan-t5 or mt5 kind, from a peek at config.json (read_config then validates it)."""
    if is_gguf(folder):  # audiogen.cpp's file: flan-t5, unless the file says mt5
        from .gguf import open_gguf

        config = open_gguf(folder, "text_encoder").config()
        return MULTILINGUAL_TEXT_ENCODER if config["model_type"] == "mt5" else TEXT_ENCODER
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return TEXT_ENCODER
    if isinstance(config, dict) and config.get("model_type") == "mt5":
        return MULTILINGUAL_TEXT_ENCODER
    return TEXT_ENCODER


def family_kinds(family: str) -> tuple[SnapshotKind, SnapshotKind]:
    """(generator kind, text encoder kind) of the checkpoint trained with ``family``."""
    if family == MT5_FAMILY:
        return MULTILINGUAL_GENERATOR, MULTILINGUAL_TEXT_ENCODER
    return GENERATOR, TEXT_ENCODER


def describe_model_type(model_type: object) -> str:
    """What a config.json ``model_type`` says the folder holds, for messages."""
    for kind in (*SNAPSHOTS, MULTILINGUAL_TEXT_ENCODER):
        if model_type in kind.model_types:
            return f"the {kind.description}"
    return f"an unknown model ({model_type!r})"
