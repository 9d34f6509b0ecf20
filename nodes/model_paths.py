"""Where the loaders look for the official snapshot folders, and how they list them.

Inside ComfyUI the folders live under the ``audiogen`` model key (by default
``ComfyUI/models/audiogen/``, plus any path extra_model_paths.yaml gives that key), and the
text encoder is also found under ``text_encoders`` (``models/text_encoders/flan-t5-large``).
Without ComfyUI (tests, scripts) the environment variable ``AUDIOGEN_MODEL_DIR`` names the
one folder holding the three snapshots, as for the command line.

A snapshot folder is a subfolder with a config.json whose ``model_type`` says which model
it holds, so folders are recognised by content, not by name. The English and the multilingual
checkpoint share each loader: the generator list offers Dasheng-AudioGen and
Dasheng-AudioGen-Multilingual, the text encoder list flan-t5-large and mt5-large; which pair
belongs together is checked from their configs when the prompt is encoded.

audiogen.cpp's GGUF files are listed beside the folders, by their path under the search root
(``dasheng-audiogen-gguf/dit_Q4_0.gguf``, or ``dit_Q4_0.gguf`` when the files lie in the root
itself), each under its role's loader: ``dit*.gguf`` (generator), ``t5*.gguf`` (text encoder),
``vocoder*.gguf`` (audio tokenizer, decoding only).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from audiogen_core.checkpoints import (
    DEFAULT_MODEL_DIR_ENV,
    MULTILINGUAL_SNAPSHOTS,
    SNAPSHOTS,
    SnapshotKind,
    WeightsError,
    download_command,
)
from audiogen_core.checkpoints.gguf_layout import FILE_PATTERNS
from audiogen_core.checkpoints.gguf_loaders import GGUF_REPO

from . import comfy_compat

MODEL_KEY = "audiogen"
TEXT_ENCODER_KEY = "text_encoders"


def register_model_folder() -> None:
    """Give ComfyUI an ``audiogen`` model key pointing at ``models/audiogen``.

    ``add_model_folder_path`` appends to a key that extra_model_paths.yaml already created
    (so the user's paths stay first) and creates a missing key with an empty extension set,
    which matches every file: snapshot folders hold json, safetensors and tokenizer files.
    """
    folder_paths = comfy_compat.folder_paths
    if folder_paths is None:
        return
    default = os.path.join(folder_paths.models_dir, MODEL_KEY)
    known = folder_paths.folder_names_and_paths.get(MODEL_KEY)
    if known is None or default not in known[0]:
        folder_paths.add_model_folder_path(MODEL_KEY, default)


def _same_role(kind: SnapshotKind) -> list[SnapshotKind]:
    """``kind`` and its counterpart in the other checkpoint (English first)."""
    kinds = [k for k in (*SNAPSHOTS, *MULTILINGUAL_SNAPSHOTS) if k.role == kind.role]
    return list(dict.fromkeys(kinds))


def search_roots(kind: SnapshotKind) -> list[Path]:
    """The folders whose subfolders may hold ``kind``'s snapshot, in lookup order."""
    folder_paths = comfy_compat.folder_paths
    if folder_paths is None:
        env = os.environ.get(DEFAULT_MODEL_DIR_ENV)
        return [Path(env)] if env else []
    keys = [MODEL_KEY] + ([TEXT_ENCODER_KEY] if kind.role == "text_encoder" else [])
    roots: list[Path] = []
    for key in keys:
        if key in folder_paths.folder_names_and_paths:
            roots += [Path(p) for p in folder_paths.get_folder_paths(key)]
    return list(dict.fromkeys(roots))


def _holds(folder: Path, kind: SnapshotKind) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return any(model_type in k.model_types for k in _same_role(kind))


def list_snapshots(kind: SnapshotKind) -> list[str]:
    """Folder names for a loader's list: the official names first, then every match found.

    The official names (of both checkpoints) are always offered, even before the weights are
    downloaded, so shipped workflows pass ComfyUI's list check and the loader can say where
    to put the files.
    """
    found = []
    for root in search_roots(kind):
        if root.is_dir():
            found += sorted(p.name for p in root.iterdir() if p.is_dir() and _holds(p, kind))
            found += _gguf_files(root, kind)
    official = [k.folder_name for k in _same_role(kind)]
    return list(dict.fromkeys([*official, *found]))


def _gguf_files(root: Path, kind: SnapshotKind) -> list[str]:
    """``kind``'s GGUF files in ``root`` and its subfolders, as '/'-joined relative names."""
    pattern = FILE_PATTERNS[kind.role]
    files = [*root.glob(pattern), *root.glob(f"*/{pattern}")]
    return sorted(p.relative_to(root).as_posix() for p in files if p.is_file())


def resolve_snapshot(kind: SnapshotKind, name: str) -> Path:
    """The folder (or ``.gguf`` file) called ``name`` in the first search root that has one.

    A folder that exists but is incomplete is returned as is: the core loader then names
    exactly what is missing. No folder at all raises WeightsError saying where to put it.
    """
    roots = search_roots(kind)
    gguf = name.lower().endswith(".gguf")
    for root in roots:
        if (root / name).is_file() if gguf else (root / name).is_dir():
            return root / name
    if gguf:
        where = ", ".join(str(root) for root in roots) or f"${DEFAULT_MODEL_DIR_ENV}"
        raise WeightsError(
            f"no GGUF file {name!r} was found in {where}. Put audiogen.cpp's files in a folder "
            f"there: hf download {GGUF_REPO} --local-dir <that folder>/dasheng-audiogen-gguf"
        )
    # Name the download of the checkpoint asked for (the multilingual one by its name).
    kind = next((k for k in _same_role(kind) if k.folder_name == name), kind)
    if roots:
        where = "\n".join(f"  {root}" for root in roots)
        target = roots[0] / kind.folder_name
        hint = (
            f"Searched:\n{where}\nDownload the official snapshot with:\n  "
            f"{download_command(kind, target)}"
        )
    else:
        hint = (
            f"Set {DEFAULT_MODEL_DIR_ENV} to the folder holding {kind.folder_name}/, or run "
            f"inside ComfyUI with the weights in models/{MODEL_KEY}/{kind.folder_name}/."
        )
    raise WeightsError(f"no {kind.description} folder named {name!r} was found. {hint}")
