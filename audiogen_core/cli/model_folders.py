"""The three snapshot folders a run loads, found and checked (configs, weight files, which
checkpoint goes with which text encoder) before anything is loaded.

``--model-dir`` (or $AUDIOGEN_MODEL_DIR) holds them under their Hub names; ``--generator``,
``--audio-tokenizer`` and ``--text-encoder`` name one each and win over it. Every problem is a
CliError that says what to download, and how.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..checkpoints.weights import DEFAULT_MODEL_DIR_ENV
from .errors import CliError


def model_folders(args: argparse.Namespace) -> dict[str, Path]:
    """The three snapshot folders, each checked (config, weight files) but not loaded."""
    from ..checkpoints.weights import resolve_model_dirs, snapshot_set

    kinds = snapshot_set(args.multilingual)
    model_dir = args.model_dir or (
        Path(os.environ[DEFAULT_MODEL_DIR_ENV]) if os.environ.get(DEFAULT_MODEL_DIR_ENV) else None
    )
    explicit = {
        "generator": args.generator,
        "audio_tokenizer": args.audio_tokenizer,
        "text_encoder": args.text_encoder,
    }
    if model_dir is None and not all(explicit.values()):
        raise CliError(_say_where(kinds, explicit))
    folders = resolve_model_dirs(model_dir, args.multilingual) if model_dir else {}
    folders.update({role: path for role, path in explicit.items() if path})
    if args.download:
        if model_dir is None:
            raise CliError("--download needs --model-dir (the folder to download into)")
        from ..checkpoints.weights import download_snapshots

        roles = [role for role in folders if not explicit[role]]
        download_snapshots(model_dir, roles=roles, multilingual=args.multilingual)
    # A path that exists (a folder, or a file such as a pickle given by mistake) goes to the
    # loader's own checks below, which say exactly what is wrong with it.
    missing = [kind for kind in kinds if not folders[kind.role].exists()]
    if missing:
        raise CliError(_not_found(missing, folders, explicit, model_dir, args.multilingual))
    _check_snapshots(folders, kinds)
    return folders


def _say_where(kinds, explicit: dict[str, Path | None]) -> str:
    from ..checkpoints.weights import download_command

    absent = [kind for kind in kinds if not explicit[kind.role]]
    flags = ", ".join(f"--{kind.role.replace('_', '-')}" for kind in absent)
    layout = "/, ".join(kind.folder_name for kind in kinds)
    return (
        f"Say where the weights are: --model-dir (a folder holding {layout}/), or all "
        "three of --generator, "
        f"--audio-tokenizer and --text-encoder (missing: {flags}).\n"
        "To download what is missing into the current folder:\n"
        + "\n".join(f"  {download_command(kind, Path(kind.folder_name))}" for kind in absent)
    )


def _not_found(missing, folders, explicit, model_dir: Path | None, multilingual: bool) -> str:
    from ..checkpoints.weights import download_command, expected_layout_message

    if model_dir is not None and not any(explicit[kind.role] for kind in missing):
        how = expected_layout_message(model_dir, multilingual)
    else:
        how = "Download them with:\n" + "\n".join(
            f"  {download_command(kind, folders[kind.role])}" for kind in missing
        )
    return (
        "Model weights not found: "
        + ", ".join(str(folders[kind.role]) for kind in missing)
        + "\n"
        + how
        + ("\nor run again with --download to fetch them." if model_dir else "")
        + _other_layout_hint(model_dir, multilingual)
    )


def _check_snapshots(folders: dict[str, Path], kinds) -> None:
    from ..checkpoints.weights import (
        check_folder_pairing,
        check_rates_agree,
        check_snapshot,
        read_config,
        text_encoder_kind,
    )

    check_folder_pairing(folders["generator"], folders["text_encoder"])
    check_rates_agree(
        read_config(folders["generator"], kinds[0]),
        read_config(folders["audio_tokenizer"], kinds[1]),
    )
    for kind in kinds:
        if kind.role == "text_encoder":
            kind = text_encoder_kind(folders[kind.role])
        check_snapshot(folders[kind.role], kind)


def _other_layout_hint(model_dir: Path | None, multilingual: bool) -> str:
    """Point at --multilingual (or away from it) when the other checkpoint is what is there."""
    from ..checkpoints.weights import resolve_model_dirs

    if model_dir is None:
        return ""
    other = resolve_model_dirs(model_dir, not multilingual)["generator"]
    if not (other / "config.json").is_file():
        return ""
    if multilingual:
        return f"\n{other} holds the English checkpoint: drop --multilingual to use it."
    return f"\n{other} holds the multilingual checkpoint: add --multilingual to use it."
