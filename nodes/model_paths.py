"""Where the loaders look for the official snapshot folders, and how they list them.

Inside ComfyUI the folders live under the ``audiogen`` model key (by default
``ComfyUI/models/audiogen/``, plus any path extra_model_paths.yaml gives that key), and the
text encoder is also found under ``text_encoders`` (``models/text_encoders/flan-t5-large``).
Without ComfyUI (tests, scripts) the environment variable ``AUDIOGEN_MODEL_DIR`` names the
one folder holding the three snapshots, as for the command line.

A snapshot folder is a subfolder with a config.json whose ``model_type`` says which model
it holds, so folders are recognised by content, not by name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from audiogen_core.weights import (
    DEFAULT_MODEL_DIR_ENV,
    TEXT_ENCODER,
    SnapshotKind,
    WeightsError,
    download_command,
)

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


def search_roots(kind: SnapshotKind) -> list[Path]:
    """The folders whose subfolders may hold ``kind``'s snapshot, in lookup order."""
    folder_paths = comfy_compat.folder_paths
    if folder_paths is None:
        env = os.environ.get(DEFAULT_MODEL_DIR_ENV)
        return [Path(env)] if env else []
    keys = [MODEL_KEY] + ([TEXT_ENCODER_KEY] if kind is TEXT_ENCODER else [])
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
    return isinstance(config, dict) and config.get("model_type") in kind.model_types


def list_snapshots(kind: SnapshotKind) -> list[str]:
    """Folder names for a loader's list: the official name first, then every match found.

    The official name is always offered, even before the weights are downloaded, so shipped
    workflows pass ComfyUI's list check and the loader can say where to put the files.
    """
    found = []
    for root in search_roots(kind):
        if root.is_dir():
            found += sorted(p.name for p in root.iterdir() if p.is_dir() and _holds(p, kind))
    return list(dict.fromkeys([kind.folder_name, *found]))


def resolve_snapshot(kind: SnapshotKind, name: str) -> Path:
    """The folder called ``name`` in the first search root that has one.

    A folder that exists but is incomplete is returned as is: the core loader then names
    exactly what is missing. No folder at all raises WeightsError saying where to put it.
    """
    roots = search_roots(kind)
    for root in roots:
        if (root / name).is_dir():
            return root / name
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
