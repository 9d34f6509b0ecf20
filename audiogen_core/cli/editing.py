"""``generate --init-audio``, ``--denoise``, ``--regenerate``, ``--fade``, ``--extend-*``,
``--window`` and ``--overlap``: editing audio and making long clips from the command line.

Every flag is checked, against the init audio's length too, before any model is loaded.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

from ..sampling.settings import SETTINGS
from .errors import CliError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    edit = parser.add_argument_group("editing audio and long clips")
    edit.add_argument(
        "--init-audio",
        type=Path,
        default=None,
        metavar="FILE",
        help="start from this audio file (any rate, mixed to mono); the result has its length",
    )
    edit.add_argument(
        "--denoise",
        type=float,
        default=SETTINGS.denoise,
        help="how much of the schedule to run from the init audio, in (0, 1] (default "
        f"{SETTINGS.denoise:g}: regenerate from noise; 0.6 keeps more of the original)",
    )
    edit.add_argument(
        "--regenerate",
        action="append",
        default=[],
        metavar="START:END",
        help="regenerate only this range of --init-audio in seconds (repeatable); the rest "
        "keeps the audio's latent exactly",
    )
    edit.add_argument(
        "--fade",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="soft edge inside each --regenerate range (default 0)",
    )
    for side in ("before", "after"):
        edit.add_argument(
            f"--extend-{side}",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help=f"generate this much new audio {side} --init-audio",
        )
    edit.add_argument(
        "--window",
        type=float,
        default=SETTINGS.window_s,
        metavar="SECONDS",
        help=f"longer clips are made window by window (default {SETTINGS.window_s:g}; "
        "0 = one pass)",
    )
    edit.add_argument(
        "--overlap",
        type=float,
        default=SETTINGS.overlap_s,
        metavar="SECONDS",
        help=f"context each window keeps from the previous one (default {SETTINGS.overlap_s:g})",
    )


@dataclass
class EditOptions:
    """The checked editing and window flags."""

    init_audio: Path | None
    denoise: float
    ranges: list[tuple[str, float, float]]
    fade: float
    extend_before: float
    extend_after: float
    window: float | None
    overlap: float

    def sample_options(self, pipe) -> dict:
        """Keyword arguments for ``pipe.sample``: the init latent (encoded and marked here)
        and the denoise and window settings."""
        options = {"denoise": self.denoise, "window_s": self.window, "overlap_s": self.overlap}
        if self.init_audio is None:
            return options
        import soundfile
        import torch

        from ..sampling.editing import extend, regenerate_range

        samples, rate = soundfile.read(str(self.init_audio), dtype="float32", always_2d=True)
        init = pipe.encode_audio(torch.from_numpy(samples.T.copy()), rate)
        # The encoder (630 M parameters at full size) is not needed again in this run.
        pipe.audio_tokenizer.encoder = None
        for text, start, end in self.ranges:
            try:
                init = regenerate_range(init, start, end, self.fade)
            except ValueError as exc:
                raise CliError(f"--regenerate {text}: {exc}") from exc
        if self.extend_before or self.extend_after:
            init = extend(init, self.extend_before, self.extend_after)
        return {**options, "init": init}


def edit_options(args: argparse.Namespace) -> EditOptions:
    """Check every editing and window flag before any model is loaded."""
    _check_numbers(args)
    ranges = [_parse_range(text) for text in args.regenerate]
    if args.fade and not ranges:
        raise CliError("--fade softens --regenerate ranges: give at least one --regenerate")
    if args.init_audio is None:
        _check_nothing_needs_init_audio(args)
    else:
        _check_against_the_clip(args, ranges)
    return EditOptions(
        init_audio=args.init_audio,
        denoise=args.denoise,
        ranges=ranges,
        fade=args.fade,
        extend_before=args.extend_before,
        extend_after=args.extend_after,
        window=args.window or None,
        overlap=args.overlap,
    )


def _check_numbers(args: argparse.Namespace) -> None:
    seconds = {
        "--fade": args.fade,
        "--extend-before": args.extend_before,
        "--extend-after": args.extend_after,
        "--window": args.window,
        "--overlap": args.overlap,
    }
    for flag, value in seconds.items():
        if not math.isfinite(value) or value < 0:
            raise CliError(f"{flag} must be a finite number of seconds >= 0, got {value}")
    try:
        SETTINGS.check_denoise(args.denoise, "--denoise")
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if args.window and args.overlap >= args.window:
        raise CliError(f"--overlap {args.overlap:g} must be shorter than --window {args.window:g}")


def _check_nothing_needs_init_audio(args: argparse.Namespace) -> None:
    needs_init = {
        "--denoise": args.denoise < 1.0,
        "--regenerate": bool(args.regenerate),
        "--fade": args.fade > 0,
        "--extend-before": args.extend_before > 0,
        "--extend-after": args.extend_after > 0,
    }
    given = [flag for flag, used in needs_init.items() if used]
    if given:
        raise CliError(f"{given[0]} needs --init-audio FILE (the audio to edit)")


def _check_against_the_clip(args: argparse.Namespace, ranges) -> None:
    clip_s = audio_seconds(args.init_audio)
    if args.duration is not None:
        raise CliError(
            "--duration does not go with --init-audio: the result has the audio's length; "
            "lengthen it with --extend-before/--extend-after"
        )
    if args.denoise < 1.0 and (args.extend_before or args.extend_after):
        raise CliError(
            "--extend-before/--extend-after need --denoise 1: the new audio has nothing "
            "to start from"
        )
    for text, start, end in ranges:
        if start < 0 or end > clip_s:
            raise CliError(
                f"--regenerate {text} lies outside {args.init_audio.name}, which is "
                f"{clip_s:.2f} s long"
            )
        if 2 * args.fade > end - start:
            raise CliError(f"--fade {args.fade:g} is longer than half of --regenerate {text}")


def _parse_range(text: str) -> tuple[str, float, float]:
    try:
        start, end = (float(part) for part in text.split(":"))
    except ValueError:
        raise CliError(
            f"--regenerate expects START:END in seconds, e.g. 2.0:4.0, got {text!r}"
        ) from None
    if not (math.isfinite(start) and math.isfinite(end)) or start >= end:
        raise CliError(f"--regenerate {text}: START must be before END (seconds)")
    return text, start, end


def audio_seconds(path: Path) -> float:
    """The length of the audio file ``path``; a CliError naming --init-audio if unreadable."""
    import soundfile

    if not path.is_file():
        raise CliError(f"--init-audio {path} does not exist")
    try:
        info = soundfile.info(str(path))
    except RuntimeError as exc:  # libsndfile's "format not recognised" and the like
        raise CliError(f"--init-audio {path} is not audio soundfile can read: {exc}") from exc
    return info.frames / info.samplerate
