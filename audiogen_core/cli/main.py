"""Headless entry point: ``python -m audiogen_core generate``, ``batch``, ``view`` and
``download``.

Errors a user can fix (missing weights, bad prompt, bad arguments, an output file that cannot
be written) are printed as one clear ``error:`` line with exit status 2, never as a traceback,
and are found before any model is loaded.
"""

from __future__ import annotations

import argparse
import gc
import io
import math
import os
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ..checkpoints import DEFAULT_MODEL_DIR_ENV
from ..conditioning.prompt import VIEWS, compose_views, language_rule_warning, validate_prompt
from ..models.ops import WEIGHT_DTYPE_CHOICES
from ..runtime.devices import DEVICE_CHOICES, DTYPE_CHOICES
from ..sampling.settings import SETTINGS
from . import timeline as cli_timeline
from . import view as cli_view
from .batch import add_batch_arguments, run_batch

EXIT_USAGE = 2
# libsndfile's sf_command() switch for the PEAK chunk of float files (sndfile.h).
_SFC_SET_ADD_PEAK_CHUNK = 0x1050
_SF_FALSE = 0


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
    gen.add_argument(
        "--duration",
        type=float,
        default=None,
        help=f"length in seconds (exact, at most {SETTINGS.max_duration_s:g}); default: the "
        "model's predicted duration",
    )
    gen.add_argument(
        "--steps",
        type=int,
        default=25,
        help=f"sampling steps (default 25, at most {SETTINGS.steps_range[1]})",
    )
    gen.add_argument(
        "--guidance",
        type=float,
        default=5.0,
        help=f"classifier-free guidance scale (default 5.0, range {SETTINGS.guidance_range[0]:g} "
        f"to {SETTINGS.guidance_range[1]:g}; <= 1 disables it)",
    )
    gen.add_argument(
        "--sway",
        type=float,
        default=-1.0,
        help=f"sway-sampling coefficient (default -1.0, range {SETTINGS.sway_range[0]:g} to "
        f"{SETTINGS.sway_range[1]:g}; 0 = linear sigmas)",
    )
    gen.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed, 0 to 2**64 - 1 (-1 = pick one and print it)",
    )
    gen.add_argument(
        "--variations",
        type=int,
        default=1,
        help=f"number of variations, at most {SETTINGS.variations_range[1]} (seeds seed, "
        "seed+1, ...); files get _00, _01, ...",
    )
    gen.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    gen.add_argument("--dtype", default="auto", choices=DTYPE_CHOICES)
    gen.add_argument(
        "--weight-dtype",
        default="default",
        choices=WEIGHT_DTYPE_CHOICES,
        help="how the Linear and convolution weights are stored, cast to --dtype as each layer "
        "runs (default: in --dtype itself); fp8 halves bf16's weight memory",
    )
    gen.add_argument(
        "--format",
        default="pcm16",
        choices=("pcm16", "float"),
        help="WAV sample format (default 16-bit PCM)",
    )
    gen.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    _add_edit_args(gen)
    cli_timeline.add_arguments(gen)
    gen.add_argument(
        "--view",
        action="store_true",
        help="also draw each result as a picture next to it (same name, .png; needs Pillow)",
    )
    _add_model_args(gen)
    cli_view.add_parser(sub)

    batch = sub.add_parser(
        "batch", help="generate every job of a JSONL/CSV file into a folder (resumable, torchrun)"
    )
    add_batch_arguments(batch)
    batch.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    batch.add_argument("--dtype", default="auto", choices=DTYPE_CHOICES)
    _add_model_args(batch)

    dl = sub.add_parser("download", help="fetch the three official snapshots into --model-dir")
    dl.add_argument("--model-dir", type=Path, required=True)
    dl.add_argument("--multilingual", action="store_true", help=MULTILINGUAL_HELP)
    return parser


MULTILINGUAL_HELP = (
    "use the multilingual checkpoint: Dasheng-AudioGen-Multilingual/ with mt5-large/ "
    "instead of Dasheng-AudioGen/ with flan-t5-large/"
)


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="folder holding Dasheng-AudioGen/, dashengtokenizer/ and "
        f"flan-t5-large/ (or the --multilingual folders) (default: ${DEFAULT_MODEL_DIR_ENV})",
    )
    parser.add_argument("--generator", type=Path, default=None, help="Dasheng-AudioGen folder")
    parser.add_argument(
        "--audio-tokenizer", type=Path, default=None, help="dashengtokenizer folder"
    )
    parser.add_argument(
        "--text-encoder", type=Path, default=None, help="flan-t5-large (or mt5-large) folder"
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="fetch missing snapshots into --model-dir first (needs internet and huggingface_hub)",
    )
    parser.add_argument("--multilingual", action="store_true", help=MULTILINGUAL_HELP)


def _model_folders(args: argparse.Namespace) -> dict[str, Path]:
    """The three snapshot folders, each checked (config, weight files) but not loaded."""
    from ..checkpoints import (
        check_folder_pairing,
        check_rates_agree,
        check_snapshot,
        download_command,
        expected_layout_message,
        read_config,
        resolve_model_dirs,
        snapshot_set,
        text_encoder_kind,
    )

    multilingual = args.multilingual
    kinds = snapshot_set(multilingual)
    model_dir = args.model_dir or (
        Path(os.environ[DEFAULT_MODEL_DIR_ENV]) if os.environ.get(DEFAULT_MODEL_DIR_ENV) else None
    )
    explicit = {
        "generator": args.generator,
        "audio_tokenizer": args.audio_tokenizer,
        "text_encoder": args.text_encoder,
    }
    if model_dir is None and not all(explicit.values()):
        absent = [kind for kind in kinds if not explicit[kind.role]]
        flags = ", ".join(f"--{kind.role.replace('_', '-')}" for kind in absent)
        layout = "/, ".join(kind.folder_name for kind in kinds)
        raise CliError(
            f"Say where the weights are: --model-dir (a folder holding {layout}/), or all "
            "three of --generator, "
            f"--audio-tokenizer and --text-encoder (missing: {flags}).\n"
            "To download what is missing into the current folder:\n"
            + "\n".join(f"  {download_command(kind, Path(kind.folder_name))}" for kind in absent)
        )
    folders = resolve_model_dirs(model_dir, multilingual) if model_dir else {}
    folders.update({role: path for role, path in explicit.items() if path})
    if args.download:
        if model_dir is None:
            raise CliError("--download needs --model-dir (the folder to download into)")
        from ..checkpoints import download_snapshots

        download_snapshots(
            model_dir, roles=[r for r in folders if not explicit[r]], multilingual=multilingual
        )
    # A path that exists (a folder, or a file such as a pickle given by mistake) goes to the
    # loader's own checks below, which say exactly what is wrong with it.
    missing = [kind for kind in kinds if not folders[kind.role].exists()]
    if missing:
        if model_dir is not None and not any(explicit[kind.role] for kind in missing):
            how = expected_layout_message(model_dir, multilingual)
        else:
            how = "Download them with:\n" + "\n".join(
                f"  {download_command(kind, folders[kind.role])}" for kind in missing
            )
        raise CliError(
            "Model weights not found: "
            + ", ".join(str(folders[kind.role]) for kind in missing)
            + "\n"
            + how
            + ("\nor run again with --download to fetch them." if model_dir else "")
            + _other_layout_hint(model_dir, multilingual)
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
    return folders


def _printable(text: str) -> str:
    """``text`` with control characters escaped, safe to echo to a terminal (newlines kept)."""
    return "".join(
        char if char == "\n" or unicodedata.category(char) != "Cc" else repr(char)[1:-1]
        for char in text
    )


def _other_layout_hint(model_dir: Path | None, multilingual: bool) -> str:
    """Point at --multilingual (or away from it) when the other checkpoint is what is there."""
    from ..checkpoints import resolve_model_dirs

    if model_dir is None:
        return ""
    other = resolve_model_dirs(model_dir, not multilingual)["generator"]
    if not (other / "config.json").is_file():
        return ""
    if multilingual:
        return f"\n{other} holds the English checkpoint: drop --multilingual to use it."
    return f"\n{other} holds the multilingual checkpoint: add --multilingual to use it."


def _prompt(args: argparse.Namespace) -> str | None:
    """The generate prompt; None only when a timeline (events or a file) may supply the base."""
    views = {view: getattr(args, view) for view in VIEWS}
    if args.prompt is None and views["caption"] is None:
        if args.event or args.timeline is not None:
            given = [f"--{view}" for view, text in views.items() if text is not None]
            if given:
                raise CliError(f"{given[0]} needs --caption (the scene it belongs to)")
            return None
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
        return validate_prompt(args.prompt)
    return compose_views(**views)


def _check_arguments(args: argparse.Namespace) -> None:
    """The core's limits, checked before anything is loaded, with the flag in each message."""
    try:
        SETTINGS.check_generation(args, "--{}")
    except (TypeError, ValueError) as exc:
        raise CliError(str(exc)) from exc


def _output_paths(out: Path, count: int, overwrite: bool) -> list[Path]:
    """Every file the run will write, checked now so that no generation is wasted on them."""
    if out.suffix.lower() != ".wav":
        raise CliError(f"--out must end in .wav, got {out}")
    folder = out.parent
    if not folder.exists():
        raise CliError(f"the output folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise CliError(f"{folder} is not a folder, so --out {out} cannot be written")
    _check_writable(folder)
    paths = (
        [out] if count == 1 else [out.with_name(f"{out.stem}_{i:02d}.wav") for i in range(count)]
    )
    name_max = _name_max(folder)
    for path in paths:
        if len(os.fsencode(path.name)) > name_max:
            raise CliError(
                f"the file name {path.name[:40]}... is {len(os.fsencode(path.name))} bytes long; "
                f"this file system allows {name_max}: choose a shorter --out"
            )
        if path.is_dir():
            raise CliError(f"{path} is a folder; choose another --out")
        if path.exists() and not overwrite:
            raise CliError(f"{path} already exists; choose another --out or pass --overwrite")
    return paths


def _check_writable(folder: Path) -> None:
    """Create and remove a file there: the only test that permissions, ACLs, read-only mounts
    and immutable folders all answer truthfully (root passes os.access everywhere)."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".audiogen-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise CliError(
            f"the output folder {folder} is not writable ({exc.strerror or exc}); "
            "choose another --out"
        ) from exc
    os.close(handle)
    os.unlink(probe)


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or no answer
        return 255


def _write_wavs(paths: list[Path], clips: list, sample_rate: int, fmt: str) -> None:
    """Write every clip or none: each goes to a temporary file in its target folder first,
    and the files are renamed into place only when all of them were written."""
    written: list[tuple[str, Path]] = []
    try:
        for path, samples in zip(paths, clips, strict=True):
            written.append((_write_temporary_wav(path, samples, sample_rate, fmt), path))
        for tmp, path in written:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise CliError(f"could not write {path}: {exc.strerror or exc}") from exc
    finally:
        for tmp, _ in written:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _write_temporary_wav(path: Path, samples, sample_rate: int, fmt: str) -> str:
    import soundfile

    # Encoded in memory, then written by Python: libsndfile reports a full disk or a file-size
    # limit only as "System error", a Python write names the cause.
    encoded = io.BytesIO()
    subtype = "PCM_16" if fmt == "pcm16" else "FLOAT"
    with soundfile.SoundFile(encoded, "w", sample_rate, 1, subtype=subtype, format="WAV") as f:
        if subtype == "FLOAT":
            _omit_peak_chunk(f)
        f.write(samples)
    try:
        # A short fixed prefix: the target's own name may already be as long as allowed.
        handle, tmp = tempfile.mkstemp(prefix=".audiogen-", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise CliError(f"could not write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(encoded.getbuffer())
        # mkstemp makes the file private (0600); give it the mode any new file gets.
        os.chmod(tmp, 0o666 & ~_umask())
    except OSError as exc:
        os.unlink(tmp)
        raise CliError(f"could not write {path}: {exc.strerror or exc}") from exc
    return tmp


def _omit_peak_chunk(sound_file) -> None:
    """No PEAK chunk in float WAVs: libsndfile stamps it with the time of writing, so the same
    audio would give different bytes on every run. soundfile has no public switch for it."""
    import soundfile

    soundfile._snd.sf_command(
        sound_file._file, _SFC_SET_ADD_PEAK_CHUNK, soundfile._ffi.NULL, _SF_FALSE
    )


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _add_edit_args(parser: argparse.ArgumentParser) -> None:

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


def _generate(args: argparse.Namespace) -> int:
    from ..checkpoints import load_audio_tokenizer, load_generator, load_text_encoder
    from ..models.ops import weight_dtype_from_name
    from ..pipeline import AudioGenPipeline

    # Everything a user can get wrong is checked before the first model loads.
    _check_arguments(args)
    prompt = _prompt(args)
    edit = _edit_options(args)
    timeline = cli_timeline.timeline_from_args(args, prompt)
    if timeline is not None and edit.init_audio is not None:
        clip_s = _audio_seconds(edit.init_audio) + edit.extend_before + edit.extend_after
        cli_timeline.check_events_fit(timeline, clip_s, "--init-audio")
    paths = _output_paths(args.out, args.variations, args.overwrite)
    for path in paths if args.view else []:
        cli_view.check_picture_path(path.with_suffix(".png"), args.overwrite)
    folders = _model_folders(args)
    shown = prompt if timeline is None else timeline.to_text()
    print(f"prompt: {_printable(shown)}", file=sys.stderr)
    base = prompt if timeline is None else timeline.base
    events = [] if timeline is None else [e.prompt for e in timeline.events]
    for tagged in filter(None, [base, *events]):
        if warning := language_rule_warning(tagged):
            print(f"warning: {_printable(warning)}", file=sys.stderr)
    device, dtype = _precision(args)
    weight_dtype = weight_dtype_from_name(args.weight_dtype)
    # One large model in memory at a time: the text encoder is freed once the prompt is
    # encoded, the generator once sampling is done; the audio tokenizer (decoder, plus its
    # encoder only to encode --init-audio) is small. A timeline encodes each event's prompt
    # with the generator's adapter too, so it holds the text encoder and the generator together.
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
    text = pipe.encode_text(prompt) if timeline is None else None
    if text is not None:
        pipe.text_encoder = None
        gc.collect()
    if edit.init_audio is not None:
        pipe.audio_tokenizer = load_audio_tokenizer(
            folders["audio_tokenizer"],
            device,
            dtype,
            include_encoder=True,
            weight_dtype=weight_dtype,
        )
    options = edit.sample_options(pipe)
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
        callback=_StepPrinter(),
        **options,
    )
    pipe.generator = None
    gc.collect()
    if pipe.audio_tokenizer is None:
        pipe.audio_tokenizer = load_audio_tokenizer(
            folders["audio_tokenizer"],
            device,
            dtype,
            include_encoder=False,
            weight_dtype=weight_dtype,
        )
    waveform = pipe.decode(latent)
    clips = [waveform[i, 0, : latent.num_samples[i]].numpy() for i in range(len(paths))]
    _write_wavs(paths, clips, latent.sample_rate, args.format)
    for path, samples, seed in zip(paths, clips, latent.seeds, strict=True):
        if args.view:
            cli_view.write_picture(path, samples, latent.sample_rate, args.overwrite)
        print(
            f"wrote {path} ({len(samples) / latent.sample_rate:.3f} s, "
            f"{latent.sample_rate} Hz, seed {seed})",
            file=sys.stderr,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    from ..checkpoints import WeightsError

    args = _parser().parse_args(argv)
    try:
        if args.command == "download":
            from ..checkpoints import download_snapshots

            folders = download_snapshots(args.model_dir, multilingual=args.multilingual)
            for path in folders.values():
                print(f"ready: {path}", file=sys.stderr)
            return 0
        if args.command == "view":
            return cli_view.run(args)
        if args.command == "batch":
            return run_batch(args, lambda: _model_folders(args))
        return _generate(args)
    except (CliError, WeightsError, ValueError, OSError) as exc:
        print(f"error: {_printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
