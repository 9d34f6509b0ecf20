"""The ``view`` subcommand and ``generate --view``: pictures of audio files from the command line.

User errors are raised as ValueError or FileNotFoundError with a message that says what to do;
the CLI prints them without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def add_parser(sub) -> None:
    """Add ``view`` to the CLI's subcommands."""
    view = sub.add_parser(
        "view", help="draw an audio file's waveform, spectrogram and loudness as a PNG"
    )
    view.add_argument("audio", type=Path, help="audio file (WAV, FLAC, OGG, ...)")
    view.add_argument("--out", required=True, type=Path, help="output .png path")
    view.add_argument("--width", type=int, default=1280, help="picture width in px (1280)")
    view.add_argument("--height", type=int, default=720, help="picture height in px (720)")
    view.add_argument(
        "--panels",
        default=None,
        help="comma-separated panels to draw: waveform, spectrogram, loudness (default: all)",
    )
    # Renamed to the glossary's words (the nodes' target_lufs and true_peak_dbtp); the old
    # spellings stay as aliases.
    view.add_argument(
        "--target-lufs",
        "--target",
        type=float,
        default=-16.0,
        help="loudness target line in LUFS (default -16)",
    )
    view.add_argument("--no-target", action="store_true", help="draw no loudness target line")
    view.add_argument(
        "--true-peak-dbtp",
        "--ceiling",
        type=float,
        default=0.0,
        help="true peaks above this many dBTP are marked red (default 0)",
    )
    view.add_argument(
        "--marker",
        action="append",
        default=[],
        metavar="START:END:LABEL",
        help="mark a time range in seconds (END empty for a single event; repeatable)",
    )
    view.add_argument("--title", default=None, help="title (default: the file name)")
    view.add_argument("--overwrite", action="store_true", help="replace an existing picture")


def check_picture_path(path: Path, overwrite: bool) -> None:
    """Refuse a picture path that would fail or overwrite, and a missing Pillow, before any work."""
    try:
        from ..media.view import require_pillow

        require_pillow()
    except ImportError as exc:
        raise ValueError(str(exc)) from exc
    if path.suffix.lower() != ".png":
        raise ValueError(f"the picture must be a .png file, got {path}")
    if not path.parent.is_dir():
        raise ValueError(f"the output folder {path.parent} does not exist")
    if path.exists() and not overwrite:
        raise ValueError(f"{path} already exists; choose another --out or pass --overwrite")


def _markers(texts: list[str]) -> list:
    from ..media.view import parse_marker

    try:
        return [parse_marker(text) for text in texts]
    except ValueError as exc:
        raise ValueError(f"--{exc}") from None


def run(args: argparse.Namespace) -> int:
    """``python -m audiogen_core view FILE --out FILE.png``."""
    import soundfile

    from ..media.loudness import as_array

    check_picture_path(args.out, args.overwrite)
    markers = _markers(args.marker)
    if not args.audio.is_file():
        raise FileNotFoundError(f"no such audio file: {args.audio}")
    try:
        samples, sample_rate = soundfile.read(str(args.audio), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as exc:  # libsndfile's errors are RuntimeErrors
        raise ValueError(f"cannot read {args.audio} as audio: {exc}") from exc
    if samples.shape[0] == 0:
        raise ValueError(f"{args.audio} holds no audio samples")
    if samples.shape[1] > 2:
        raise ValueError(
            f"{args.audio} has {samples.shape[1]} channels; only mono and stereo files can be "
            "drawn (mix it down first)"
        )
    from ..media.view import PANELS, render, save_png

    image = render(
        as_array(samples.T, str(args.audio)),
        sample_rate,
        width=args.width,
        height=args.height,
        panels=args.panels or PANELS,
        target_lufs=None if args.no_target else args.target_lufs,
        ceiling_dbtp=args.true_peak_dbtp,
        markers=markers,
        title=args.audio.name if args.title is None else args.title,
    )
    save_png(image, args.out, overwrite=args.overwrite)
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})", file=sys.stderr)
    return 0


def write_picture(path: Path, samples: np.ndarray, sample_rate: int, overwrite: bool) -> Path:
    """Draw a generated clip and write it next to its audio (``path`` with .png)."""
    from ..media.view import render, save_png

    image = render(samples, sample_rate, title=path.name)
    return save_png(image, path.with_suffix(".png"), overwrite=overwrite)
