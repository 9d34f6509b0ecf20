"""``python -m audiogen_core download --model-dir DIR``: fetch the three official snapshots."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .arguments import MULTILINGUAL_HELP


def add_parser(sub) -> None:
    """Add ``download`` to the CLI's subcommands."""
    download = sub.add_parser(
        "download", help="fetch the three official snapshots into --model-dir"
    )
    download.add_argument(
        "--model-dir", type=Path, required=True, help="the folder to download into"
    )
    download.add_argument("--multilingual", action="store_true", help=MULTILINGUAL_HELP)


def run(args: argparse.Namespace) -> int:
    from ..checkpoints.weights import download_snapshots

    folders = download_snapshots(args.model_dir, multilingual=args.multilingual)
    for path in folders.values():
        print(f"ready: {path}", file=sys.stderr)
    return 0
