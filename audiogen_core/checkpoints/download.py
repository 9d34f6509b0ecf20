"""Fetching the official snapshots, and the commands and layout a user is told when one is missing.

Only configs, safetensors and tokenizer files are ever fetched: never pickles, TF/Flax weights
or remote code (this package is the code).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .errors import WeightsError
from .snapshots import SnapshotKind, snapshot_dirs, snapshot_set

DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt"]


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
    # The snapshot folders even where model_dir holds GGUF files: those are not fetched here.
    folders = snapshot_dirs(model_dir, multilingual)
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
