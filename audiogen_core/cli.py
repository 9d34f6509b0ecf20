"""Headless entry point: ``python -m audiogen_core generate ...`` and ``... download``.

Errors a user can fix (missing weights, bad prompt, bad duration, existing output file) are
printed as one clear message with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .devices import DEVICE_CHOICES, DTYPE_CHOICES
from .prompt import VIEWS, compose_prompt, compose_views
from .weights import DEFAULT_MODEL_DIR_ENV

EXIT_USAGE = 2


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m audiogen_core",
        description="Dasheng-AudioGen: speech, music, sound effects and ambience from one prompt.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write a generated scene to a WAV file")
    for view in VIEWS:
        gen.add_argument(
            f"--{view}",
            default=None,
            help=(
                "scene description (required unless --prompt is given)"
                if view == "caption"
                else f"the <|{view}|> view"
            ),
        )
    gen.add_argument(
        "--prompt",
        default=None,
        help="a complete tagged prompt ('<|caption|> ... <|sfx|> ...'); replaces the view options",
    )
    gen.add_argument("--out", required=True, type=Path, help="output .wav path")
    gen.add_argument(
        "--duration",
        type=float,
        default=None,
        help="length in seconds (exact); default: the model's predicted duration",
    )
    gen.add_argument("--steps", type=int, default=25, help="sampling steps (default 25)")
    gen.add_argument(
        "--guidance",
        type=float,
        default=5.0,
        help="classifier-free guidance scale (default 5.0; <= 1 disables it)",
    )
    gen.add_argument(
        "--sway",
        type=float,
        default=-1.0,
        help="sway-sampling coefficient (default -1.0; 0 = linear sigmas)",
    )
    gen.add_argument("--seed", type=int, default=0, help="random seed (-1 = pick one and print it)")
    gen.add_argument(
        "--variations",
        type=int,
        default=1,
        help="number of variations (seeds seed, seed+1, ...); files get _00, _01, ...",
    )
    gen.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    gen.add_argument("--dtype", default="auto", choices=DTYPE_CHOICES)
    gen.add_argument(
        "--format",
        default="pcm16",
        choices=("pcm16", "float"),
        help="WAV sample format (default 16-bit PCM)",
    )
    gen.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    _add_edit_args(gen)
    _add_model_args(gen)

    dl = sub.add_parser("download", help="fetch the three official snapshots into --model-dir")
    dl.add_argument("--model-dir", type=Path, required=True)
    return parser


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="folder holding Dasheng-AudioGen/, dashengtokenizer/ and "
        f"flan-t5-large/ (default: ${DEFAULT_MODEL_DIR_ENV})",
    )
    parser.add_argument("--generator", type=Path, default=None, help="Dasheng-AudioGen folder")
    parser.add_argument(
        "--audio-tokenizer", type=Path, default=None, help="dashengtokenizer folder"
    )
    parser.add_argument("--text-encoder", type=Path, default=None, help="flan-t5-large folder")
    parser.add_argument(
        "--download",
        action="store_true",
        help="fetch missing snapshots into --model-dir first (needs internet and huggingface_hub)",
    )


def _model_folders(args: argparse.Namespace) -> dict[str, Path]:
    from .weights import expected_layout_message, resolve_model_dirs

    model_dir = args.model_dir or (
        Path(os.environ[DEFAULT_MODEL_DIR_ENV]) if os.environ.get(DEFAULT_MODEL_DIR_ENV) else None
    )
    explicit = {
        "generator": args.generator,
        "audio_tokenizer": args.audio_tokenizer,
        "text_encoder": args.text_encoder,
    }
    if model_dir is None and not all(explicit.values()):
        raise CliError(
            "Say where the weights are: --model-dir DIR (holding Dasheng-AudioGen/, "
            "dashengtokenizer/ and flan-t5-large/), or all three of --generator, "
            "--audio-tokenizer and --text-encoder.\n" + expected_layout_message(Path("DIR"))
        )
    folders = resolve_model_dirs(model_dir) if model_dir else {}
    folders.update({role: path for role, path in explicit.items() if path})
    if args.download:
        if model_dir is None:
            raise CliError("--download needs --model-dir (the folder to download into)")
        from .weights import download_snapshots

        download_snapshots(model_dir, roles=[r for r in folders if not explicit[r]])
    missing = [path for path in folders.values() if not (path / "config.json").is_file()]
    if missing:
        where = model_dir or Path("DIR")
        raise CliError(
            "Model weights not found: "
            + ", ".join(str(p) for p in missing)
            + "\n"
            + expected_layout_message(where)
            + "\nor run again with --download to fetch them."
        )
    return folders


def _prompt(args: argparse.Namespace) -> str:
    views = {view: getattr(args, view) for view in VIEWS}
    if args.prompt is None and views["caption"] is None:
        raise CliError(
            "give a scene with --caption (plus optional --speech/--asr/--sfx/--music/"
            "--env), or a complete tagged --prompt"
        )
    if args.prompt is not None:
        given = [f"--{view}" for view, text in views.items() if text is not None]
        if given:
            raise CliError(
                f"--prompt replaces the view options; drop {', '.join(given)} or --prompt"
            )
        return compose_prompt(prompt=args.prompt)
    return compose_views(**views)


def _output_paths(out: Path, count: int, overwrite: bool) -> list[Path]:
    if out.suffix.lower() != ".wav":
        raise CliError(f"--out must end in .wav, got {out}")
    paths = (
        [out] if count == 1 else [out.with_name(f"{out.stem}_{i:02d}.wav") for i in range(count)]
    )
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise CliError(f"{existing[0]} already exists; choose another --out or pass --overwrite")
    if not out.parent.exists():
        raise CliError(f"the output folder {out.parent} does not exist")
    return paths


def _write_wav(path: Path, samples, sample_rate: int, fmt: str) -> None:
    """Write through a temporary file in the same folder so a failure never leaves half a file."""
    import soundfile

    subtype = "PCM_16" if fmt == "pcm16" else "FLOAT"
    handle, tmp = tempfile.mkstemp(suffix=".wav", dir=path.parent)
    os.close(handle)
    try:
        soundfile.write(tmp, samples, sample_rate, subtype=subtype, format="WAV")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _add_edit_args(parser: argparse.ArgumentParser) -> None:
    from .windows import DEFAULT_OVERLAP_S, DEFAULT_WINDOW_S

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
        default=1.0,
        help="how much of the schedule to run from the init audio, in (0, 1] (default 1: "
        "regenerate from noise; 0.6 keeps more of the original)",
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
        default=DEFAULT_WINDOW_S,
        metavar="SECONDS",
        help=f"longer clips are made window by window (default {DEFAULT_WINDOW_S:g}; 0 = one pass)",
    )
    edit.add_argument(
        "--overlap",
        type=float,
        default=DEFAULT_OVERLAP_S,
        metavar="SECONDS",
        help=f"context each window keeps from the previous one (default {DEFAULT_OVERLAP_S:g})",
    )


@dataclass
class _EditOptions:
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
        """Keyword arguments for ``pipe.generate``: the init latent (encoded and marked here)
        and the denoise and window settings."""
        options = {"denoise": self.denoise, "window_s": self.window, "overlap_s": self.overlap}
        if self.init_audio is None:
            return options
        import soundfile
        import torch

        from .editing import extend, regenerate_range

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


def _edit_options(args: argparse.Namespace) -> _EditOptions:
    """Check every editing and window flag before any model is loaded."""
    numbers = {
        "--denoise": args.denoise,
        "--fade": args.fade,
        "--extend-before": args.extend_before,
        "--extend-after": args.extend_after,
        "--window": args.window,
        "--overlap": args.overlap,
    }
    for flag, value in numbers.items():
        if not math.isfinite(value) or (flag != "--denoise" and value < 0):
            raise CliError(f"{flag} must be a finite number of seconds >= 0, got {value}")
    if not 0.0 < args.denoise <= 1.0:
        raise CliError(
            f"--denoise must be in (0, 1] (1 = regenerate from noise), got {args.denoise}"
        )
    if args.window and args.overlap >= args.window:
        raise CliError(f"--overlap {args.overlap:g} must be shorter than --window {args.window:g}")
    needs_init = {
        "--denoise": args.denoise < 1.0,
        "--regenerate": bool(args.regenerate),
        "--fade": args.fade > 0,
        "--extend-before": args.extend_before > 0,
        "--extend-after": args.extend_after > 0,
    }
    ranges = [_parse_range(text) for text in args.regenerate]
    if args.fade and not ranges:
        raise CliError("--fade softens --regenerate ranges: give at least one --regenerate")
    if args.init_audio is None:
        given = [flag for flag, used in needs_init.items() if used]
        if given:
            raise CliError(f"{given[0]} needs --init-audio FILE (the audio to edit)")
    else:
        clip_s = _audio_seconds(args.init_audio)
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
    return _EditOptions(
        init_audio=args.init_audio,
        denoise=args.denoise,
        ranges=ranges,
        fade=args.fade,
        extend_before=args.extend_before,
        extend_after=args.extend_after,
        window=args.window or None,
        overlap=args.overlap,
    )


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


def _audio_seconds(path: Path) -> float:
    import soundfile

    if not path.is_file():
        raise CliError(f"--init-audio {path} does not exist")
    try:
        info = soundfile.info(str(path))
    except RuntimeError as exc:  # libsndfile's "format not recognised" and the like
        raise CliError(f"--init-audio {path} is not audio soundfile can read: {exc}") from exc
    return info.frames / info.samplerate


class _StepPrinter:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, step: int, total: int) -> None:
        width = 30
        done = int(width * step / total)
        elapsed = time.monotonic() - self.start
        sys.stderr.write(
            f"\rsampling [{'#' * done}{'.' * (width - done)}] {step}/{total} {elapsed:5.1f}s"
        )
        if step == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _generate(args: argparse.Namespace) -> int:
    from .pipeline import AudioGenPipeline

    prompt = _prompt(args)
    edit = _edit_options(args)
    paths = _output_paths(args.out, args.variations, args.overwrite)
    folders = _model_folders(args)
    print(f"prompt: {prompt}", file=sys.stderr)
    pipe = AudioGenPipeline.load(
        folders["generator"],
        folders["text_encoder"],
        folders["audio_tokenizer"],
        device=args.device,
        dtype=args.dtype,
        include_audio_encoder=edit.init_audio is not None,
    )
    result = pipe.generate(
        prompt,
        seed=args.seed,
        steps=args.steps,
        guidance=args.guidance,
        sway=args.sway,
        duration_s=args.duration,
        num_variations=args.variations,
        callback=_StepPrinter(),
        **edit.sample_options(pipe),
    )
    for i, path in enumerate(paths):
        samples = result.waveform[i, 0, : result.num_samples[i]].numpy()
        _write_wav(path, samples, result.sample_rate, args.format)
        print(
            f"wrote {path} ({len(samples) / result.sample_rate:.3f} s, "
            f"{result.sample_rate} Hz, seed {result.seeds[i]})",
            file=sys.stderr,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    from .weights import WeightsError

    args = _parser().parse_args(argv)
    try:
        if args.command == "download":
            from .weights import download_snapshots

            for path in download_snapshots(args.model_dir).values():
                print(f"ready: {path}", file=sys.stderr)
            return 0
        return _generate(args)
    except (CliError, WeightsError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
