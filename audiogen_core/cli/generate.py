"""``python -m audiogen_core generate``: one prompt (or a timeline, or an edit) to WAV files.

Everything a user can get wrong is checked before the first model loads. Then one large model
is in memory at a time: the text encoder is freed once the prompt is encoded, the generator
once sampling is done; the audio tokenizer (decoder, plus its encoder only to encode
--init-audio) is small. A timeline encodes each event's prompt with the generator's adapter
too, so it holds the text encoder and the generator together.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..conditioning.prompt import VIEWS, compose_views, language_rule_warning, validate_prompt
from ..conditioning.timeline import Timeline
from ..sampling.settings import SETTINGS
from . import arguments, editing, outputs
from . import timeline as cli_timeline
from . import view as cli_view
from .errors import CliError, printable
from .model_folders import model_folders


def add_parser(sub) -> None:
    """Add ``generate`` to the CLI's subcommands."""
    gen = sub.add_parser("generate", help="write a generated scene to a WAV file")
    for view in VIEWS:
        gen.add_argument(
            f"--{view}",
            default=None,
            help=(
                "scene description (required unless --prompt, or a --timeline with a base "
                "line, is given)"
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
    arguments.add_sampling_arguments(gen)
    arguments.add_device_arguments(gen)
    arguments.add_format_argument(gen)
    gen.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    editing.add_arguments(gen)
    cli_timeline.add_arguments(gen)
    gen.add_argument(
        "--view",
        action="store_true",
        help="also draw each result as a picture next to it (same name, .png; needs Pillow)",
    )
    arguments.add_model_arguments(gen)


@dataclass
class _Request:
    """A generate command line, checked."""

    prompt: str | None  # None: the timeline's base prompt
    timeline: Timeline | None
    edit: editing.EditOptions
    paths: list[Path]
    folders: dict[str, Path]


def run(args: argparse.Namespace) -> int:
    """The generate command; returns the exit status."""
    request = _check(args)
    _report_prompt(request)
    device, dtype = _precision(args)
    latent, pipe = _sample(args, request, device, dtype)
    clips = _decode(args, request, pipe, latent, device, dtype)
    outputs.write_wavs(request.paths, clips, latent.sample_rate, args.format, args.overwrite)
    for path, samples, seed in zip(request.paths, clips, latent.seeds, strict=True):
        print(
            f"wrote {path} ({len(samples) / latent.sample_rate:.3f} s, "
            f"{latent.sample_rate} Hz, seed {seed})",
            file=sys.stderr,
        )
        if args.view:
            picture = cli_view.write_picture(path, samples, latent.sample_rate, args.overwrite)
            print(f"wrote {picture}", file=sys.stderr)
    return 0


def _check(args: argparse.Namespace) -> _Request:
    """Every argument, path and folder, checked before any model loads."""
    try:
        SETTINGS.check_generation(args, "--{}")
    except (TypeError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    prompt = _prompt(args)
    edit = editing.edit_options(args)
    timeline = cli_timeline.timeline_from_args(args, prompt)
    if timeline is not None and edit.init_audio is not None:
        clip_s = editing.audio_seconds(edit.init_audio) + edit.extend_before + edit.extend_after
        cli_timeline.check_events_fit(timeline, clip_s, "--init-audio")
    paths = outputs.output_paths(args.out, args.variations, args.overwrite)
    for path in paths if args.view else []:
        cli_view.check_picture_path(path.with_suffix(".png"), args.overwrite)
    return _Request(prompt, timeline, edit, paths, model_folders(args))


def _prompt(args: argparse.Namespace) -> str | None:
    """The generate prompt; None only when a timeline (events or a file) may supply the base."""
    views = {view: getattr(args, view) for view in VIEWS}
    given = [f"--{view}" for view, text in views.items() if text is not None]
    if args.prompt is None and views["caption"] is None:
        if args.event or args.timeline is not None:
            if given:
                raise CliError(f"{given[0]} needs --caption (the scene it belongs to)")
            return None
        raise CliError(
            "give a scene with --caption (plus optional --speech/--asr/--sfx/--music/"
            "--env), or a complete tagged --prompt"
        )
    if args.prompt is not None:
        if given:
            raise CliError(
                f"--prompt replaces the view options; drop {', '.join(given)} or --prompt"
            )
        return validate_prompt(args.prompt)
    return compose_views(**views)


def _report_prompt(request: _Request) -> None:
    timeline = request.timeline
    shown = request.prompt if timeline is None else timeline.to_text()
    print(f"prompt: {printable(shown)}", file=sys.stderr)
    base = request.prompt if timeline is None else timeline.base
    events = [] if timeline is None else [event.prompt for event in timeline.events]
    for tagged in filter(None, [base, *events]):
        if warning := language_rule_warning(tagged):
            print(f"warning: {printable(warning)}", file=sys.stderr)


def _precision(args: argparse.Namespace):
    """Device and dtype for the run, with a line saying what "auto" chose and why."""
    from ..runtime.devices import auto_dtype, dtype_name, resolve_device, resolve_dtype

    device = resolve_device(args.device)
    if args.dtype == "auto":
        dtype, reason = auto_dtype(device)
        print(f"precision: {dtype_name(dtype)} on {device} (auto: {reason})", file=sys.stderr)
    else:
        dtype = resolve_dtype(args.dtype, device)
    return device, dtype


def _sample(args: argparse.Namespace, request: _Request, device, dtype):
    """The latent, made with the text encoder and the generator each loaded only as needed."""
    from ..checkpoints.weights import load_audio_tokenizer, load_generator, load_text_encoder
    from ..models.ops import weight_dtype_from_name
    from ..pipeline import AudioGenPipeline

    folders, timeline = request.folders, request.timeline
    weight_dtype = weight_dtype_from_name(args.weight_dtype)
    # A tokenizer.json shipped with the generator wins over the text encoder's own.
    bundled = folders["generator"] / "tokenizer.json"
    pipe = AudioGenPipeline(
        text_encoder=load_text_encoder(
            folders["text_encoder"],
            device,
            dtype,
            bundled if bundled.is_file() else None,
            weight_dtype=weight_dtype,
        )
    )
    text = pipe.encode_text(request.prompt) if timeline is None else None
    if text is not None:
        pipe.text_encoder = None
        gc.collect()
    if request.edit.init_audio is not None:
        pipe.audio_tokenizer = load_audio_tokenizer(
            folders["audio_tokenizer"],
            device,
            dtype,
            include_encoder=True,
            weight_dtype=weight_dtype,
        )
    options = request.edit.sample_options(pipe)
    pipe.generator = load_generator(folders["generator"], device, dtype, weight_dtype=weight_dtype)
    if timeline is None:
        cond = pipe.condition(text)
        if args.time_mode == "aligned":
            cond = pipe.align(cond, args.duration)
    else:
        cond = pipe.encode_timeline(timeline, args.duration, mode=args.time_mode)
        pipe.text_encoder = None
        gc.collect()
    latent = pipe.sample(
        cond,
        seed=args.seed,
        steps=args.steps,
        guidance=args.guidance,
        sway=args.sway,
        duration_s=args.duration,
        variations=args.variations,
        callback=StepPrinter(),
        **options,
    )
    pipe.generator = None
    gc.collect()
    return latent, pipe


def _decode(args: argparse.Namespace, request: _Request, pipe, latent, device, dtype) -> list:
    """One mono clip (numpy) per output file, each cut to its own length."""
    from ..checkpoints.weights import load_audio_tokenizer
    from ..models.ops import weight_dtype_from_name

    if pipe.audio_tokenizer is None:
        pipe.audio_tokenizer = load_audio_tokenizer(
            request.folders["audio_tokenizer"],
            device,
            dtype,
            include_encoder=False,
            weight_dtype=weight_dtype_from_name(args.weight_dtype),
        )
    waveform = pipe.decode(latent)
    return [waveform[i, 0, : latent.num_samples[i]].numpy() for i in range(len(request.paths))]


class StepPrinter:
    """A progress bar on stderr for the sampler's step callback."""

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
