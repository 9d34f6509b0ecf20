"""Headless entry point: ``python -m audiogen_core generate ...`` and ``... download``.

Errors a user can fix (missing weights, bad prompt, bad duration, existing output file) are
printed as one clear message with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
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


def _precision(args: argparse.Namespace):
    """Device and dtype for the run, with a line saying what "auto" chose and why."""
    from .devices import auto_dtype, dtype_name, resolve_device, resolve_dtype

    device = resolve_device(args.device)
    if args.dtype == "auto":
        dtype, reason = auto_dtype(device)
        print(f"precision: {dtype_name(dtype)} on {device} (auto: {reason})", file=sys.stderr)
    else:
        dtype = resolve_dtype(args.dtype, device)
    return device, dtype


def _generate(args: argparse.Namespace) -> int:
    from .pipeline import AudioGenPipeline
    from .weights import (
        AUDIO_TOKENIZER,
        GENERATOR,
        TEXT_ENCODER,
        load_audio_tokenizer,
        load_generator,
        load_text_encoder,
        read_config,
    )

    prompt = _prompt(args)
    paths = _output_paths(args.out, args.variations, args.overwrite)
    folders = _model_folders(args)
    for kind in (GENERATOR, TEXT_ENCODER, AUDIO_TOKENIZER):  # a wrong folder fails now
        read_config(folders[kind.role], kind)
    print(f"prompt: {prompt}", file=sys.stderr)
    device, dtype = _precision(args)
    # One model in memory at a time (the generator is the largest): the text encoder is
    # freed once the prompt is encoded, the generator once sampling is done.
    # A tokenizer.json shipped with the generator wins over flan-t5's own (as in encode_prompt).
    bundled = folders["generator"] / "tokenizer.json"
    pipe = AudioGenPipeline(
        text_encoder=load_text_encoder(
            folders["text_encoder"], device, dtype, bundled if bundled.is_file() else None
        )
    )
    text = pipe.encode_text(prompt)
    pipe.text_encoder = None
    gc.collect()
    pipe.generator = load_generator(folders["generator"], device, dtype)
    latent = pipe.sample(
        pipe.condition(text),
        seed=args.seed,
        steps=args.steps,
        guidance=args.guidance,
        sway=args.sway,
        duration_s=args.duration,
        num_variations=args.variations,
        callback=_StepPrinter(),
    )
    pipe.generator = None
    gc.collect()
    pipe.audio_tokenizer = load_audio_tokenizer(
        folders["audio_tokenizer"], device, dtype, include_encoder=False
    )
    waveform = pipe.decode(latent)
    for i, path in enumerate(paths):
        samples = waveform[i, 0, : latent.num_samples[i]].numpy()
        _write_wav(path, samples, latent.sample_rate, args.format)
        print(
            f"wrote {path} ({len(samples) / latent.sample_rate:.3f} s, "
            f"{latent.sample_rate} Hz, seed {latent.seeds[i]})",
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
