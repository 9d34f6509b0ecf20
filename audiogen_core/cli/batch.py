"""``python -m audiogen_core batch JOBS --out DIR``: many prompts, one process or many, resumable.

Plan. Jobs with the same sampler settings (duration, steps, guidance, sway) are cut, in the
order of the jobs file, into chunks of ``--batch-size`` files; a chunk is one text-encoder call
and one sampler call (a chunk of predicted-length jobs makes one sampler call per predicted
length, because padding an item to a longer one changes its audio). Chunks go to the processes
round-robin (chunk ``k`` to rank ``k % WORLD_SIZE``). Floating-point results depend on what
else is in a sampler call, so the chunks are fixed by the jobs file and ``--batch-size`` alone:
every file gets the same bits whether one process or eight make it, and whether or not the run
was resumed (a chunk that was cut short is made again whole; only its missing files are
written).

Scale-out uses torch's own launcher: under ``torchrun`` each process reads RANK, WORLD_SIZE and
LOCAL_RANK from the environment, computes on ``cuda:LOCAL_RANK`` (or the CPU) and writes its own
manifest part. torch.distributed (nccl on CUDA, gloo on the CPU) is used only at the end, to
wait for every process and collect their counts before the first process merges the manifest.
Several machines need an output folder they all see (a shared file system).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ..media.files import encode_wav, remove_temporaries, write_atomically
from ..sampling.settings import SETTINGS
from . import arguments
from .jobs import BadLine, Item, Job, JobDefaults, JobsFile, JobsFileError, read_jobs
from .manifest import (
    MANIFEST_NAME,
    ManifestPart,
    check_file,
    latest_records,
    merge,
    read_records,
    record_key,
    sha256_of,
)
from .model_folders import model_folders

# Processes that finish early wait at the final collective for the slowest one; a long run
# must not trip the default 30-minute timeout there.
_COLLECTIVE_TIMEOUT = timedelta(days=7)


class BatchError(ValueError):
    """A problem with the command that stops the run before any audio is made."""


# ---------------------------------------------------------------------------- command line


def add_parser(sub) -> None:
    """Add ``batch`` to the CLI's subcommands."""
    parser = sub.add_parser(
        "batch", help="generate every job of a JSONL/CSV file into a folder (resumable, torchrun)"
    )
    parser.add_argument(
        "jobs",
        type=Path,
        help="JSON Lines file (one job a line: prompt or views, optional duration, seed, "
        "variations, name, steps, guidance, sway), an official MECAT/examples *.jsonl as it "
        "is, or a CSV file (*.csv) with the same columns",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="files per sampler call, for jobs with the same length and settings (default 8)",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="try again the jobs the manifest records as failed (skipped otherwise)",
    )
    arguments.add_sampling_arguments(parser, for_batch=True)
    arguments.add_format_argument(parser)
    arguments.add_device_arguments(parser)
    arguments.add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """The batch command; returns the exit status."""
    return run_batch(args, lambda: model_folders(args))


def _defaults(args: argparse.Namespace) -> JobDefaults:
    """The run's defaults, checked with the core's limits (the flag named) before any work."""
    if args.batch_size < 1:
        raise BatchError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.seed < 0:
        raise BatchError(
            f"--seed must be >= 0 in a batch run (files are remade from it), got {args.seed}"
        )
    try:
        SETTINGS.check_generation(args, "--{}")
    except (TypeError, ValueError) as exc:
        raise BatchError(str(exc)) from exc
    return JobDefaults(
        duration_s=args.duration,
        seed=args.seed,
        variations=args.variations,
        steps=args.steps,
        guidance=args.guidance,
        sway=args.sway,
    )


# ---------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Ranks:
    """This process's place in a torchrun launch (rank 0 of 1 when run alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls) -> Ranks:
        try:
            ranks = cls(
                int(os.environ.get("RANK", 0)),
                int(os.environ.get("WORLD_SIZE", 1)),
                int(os.environ.get("LOCAL_RANK", 0)),
            )
        except ValueError as exc:
            raise BatchError(f"RANK, WORLD_SIZE and LOCAL_RANK must be numbers: {exc}") from None
        if not 0 <= ranks.rank < ranks.world_size:
            raise BatchError(f"RANK {ranks.rank} is outside WORLD_SIZE {ranks.world_size}")
        return ranks

    @property
    def label(self) -> str:
        return f"rank {self.rank}/{self.world_size}" if self.world_size > 1 else "batch"

    def say(self, message: str) -> None:
        prefix = f"[{self.label}] " if self.world_size > 1 else ""
        print(prefix + message, file=sys.stderr, flush=True)


def _device(name: str, ranks: Ranks) -> str:
    """One device per process: ``cuda:LOCAL_RANK`` under torchrun when there are GPUs."""
    if ranks.world_size == 1:
        return name
    import torch

    if name in ("auto", "cuda") and torch.cuda.is_available():
        if ranks.local_rank >= torch.cuda.device_count():
            raise BatchError(
                f"LOCAL_RANK {ranks.local_rank} has no GPU (this machine has "
                f"{torch.cuda.device_count()}): start at most that many processes per machine"
            )
        return f"cuda:{ranks.local_rank}"
    if name == "mps":
        raise BatchError("several processes cannot share Apple's MPS device; run one process")
    return "cpu" if name == "auto" else name


def _start_process_group(ranks: Ranks, device: str):
    """A process group for the final wait, or None when this process runs alone."""
    if ranks.world_size == 1:
        return None
    import torch
    import torch.distributed as dist

    backend = "gloo"
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
        backend = "nccl"
    dist.init_process_group(backend, timeout=_COLLECTIVE_TIMEOUT)
    return dist


# ---------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Chunk:
    index: int
    items: tuple[Item, ...]

    @property
    def jobs(self) -> list[Job]:
        return list(dict.fromkeys(item.job for item in self.items))


def plan_chunks(jobs: list[Job], batch_size: int) -> list[Chunk]:
    """Chunks of at most ``batch_size`` items with equal sampler settings, in file order."""
    groups: dict[tuple, list[Item]] = {}
    for job in jobs:
        groups.setdefault(job.sampler_settings, []).extend(job.items)
    pieces = [
        items[start : start + batch_size]
        for items in groups.values()
        for start in range(0, len(items), batch_size)
    ]
    pieces.sort(key=lambda piece: (piece[0].job.line, piece[0].variation))
    return [Chunk(index, tuple(piece)) for index, piece in enumerate(pieces)]


def _record_settings(item: Item, fmt: str) -> dict:
    job = item.job
    return {
        "prompt": job.prompt,
        "seed": item.seed,
        "requested_duration": job.duration_s,
        "steps": job.steps,
        "guidance": job.guidance,
        "sway": job.sway,
        "format": fmt,
    }


@dataclass
class Tally:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failed_earlier: int = 0
    audio_s: float = 0.0
    busy_s: float = 0.0


class _Worker:
    """Makes this process's chunks and writes their files and manifest lines."""

    def __init__(self, pipe, out: Path, fmt: str, ranks: Ranks, part: ManifestPart, tally: Tally):
        self.pipe = pipe
        self.out = out
        self.fmt = fmt
        self.ranks = ranks
        self.part = part
        self.tally = tally

    def run_chunk(self, chunk: Chunk, todo: set[str], progress) -> None:
        started = time.perf_counter()
        try:
            made = list(self._make(chunk))
        except (ValueError, RuntimeError) as exc:
            for item in chunk.items:
                if item.file in todo:
                    self._fail(item, f"generation failed: {exc}")
                    progress.update(1)
            return
        per_item = (time.perf_counter() - started) / max(1, len(chunk.items))
        for item, samples in made:
            if item.file in todo:
                self._write(item, samples, per_item)
                progress.update(1)

    def _make(self, chunk: Chunk):
        import torch

        from ..pipeline import Conditioning

        pipe = self.pipe
        jobs = chunk.jobs
        cond = pipe.encode_prompt([job.prompt for job in jobs])
        rows = [jobs.index(item.job) for item in chunk.items]
        per_item = cond.tensors.index_select(torch.tensor(rows, dtype=torch.int64))
        settings = jobs[0]
        # A sampler call holds items of one length: padding would change the shorter ones.
        by_length: dict[int, list[int]] = {}
        for position, frames in enumerate(per_item.latent_lengths.tolist()):
            key = 0 if settings.duration_s is not None else int(frames)
            by_length.setdefault(key, []).append(position)
        for positions in by_length.values():
            index = torch.tensor(positions, dtype=torch.int64)
            items = [chunk.items[p] for p in positions]
            sub = Conditioning(
                prompts=[item.job.prompt for item in items],
                tensors=per_item.index_select(index),
                token_counts=[cond.token_counts[rows[p]] for p in positions],
                frame_rate=cond.frame_rate,
            )
            latent = pipe.sample(
                sub,
                seed=[item.seed for item in items],
                steps=settings.steps,
                guidance=settings.guidance,
                sway=settings.sway,
                duration_s=settings.duration_s,
            )
            waveform = pipe.decode(latent)
            if not bool(torch.isfinite(waveform).all()):
                raise ValueError("the decoded audio holds NaN or infinite samples")
            for i, item in enumerate(items):
                yield item, waveform[i, 0, : latent.num_samples[i]].numpy()

    def _write(self, item: Item, samples, seconds_taken: float) -> None:
        data = encode_wav(samples, self.pipe.sample_rate, self.fmt)
        path = self.out / item.file
        digest = hashlib.sha256(data).hexdigest()
        try:
            write_atomically(path, data)
        except FileExistsError:
            # Never replace a file this run did not just make; if it already holds exactly this
            # audio (a crash between the rename and the manifest line), record it.
            if sha256_of(path) != digest:
                self._fail(
                    item,
                    f"{path} already exists and holds other audio (other settings, or changed "
                    "since); it is left as it is: move it away to have it made again",
                )
                return
        except OSError as exc:
            raise BatchError(f"cannot write {path}: {exc.strerror or exc}") from exc
        self.part.append(
            {
                "status": "done",
                "job": item.job.name,
                "line": item.job.line,
                "variation": item.variation,
                **_record_settings(item, self.fmt),
                "file": item.file,
                "duration": len(samples) / self.pipe.sample_rate,
                "samples": len(samples),
                "sha256": digest,
                "seconds_taken": round(seconds_taken, 4),
                "rank": self.ranks.rank,
            }
        )
        self.tally.done += 1
        self.tally.audio_s += len(samples) / self.pipe.sample_rate

    def _fail(self, item: Item, message: str) -> None:
        self.ranks.say(f"failed: line {item.job.line} ({item.file}): {message}")
        self.part.append(
            {
                "status": "failed",
                "job": item.job.name,
                "line": item.job.line,
                "variation": item.variation,
                **_record_settings(item, self.fmt),
                "file": item.file,
                "error": message,
                "rank": self.ranks.rank,
            }
        )
        self.tally.failed += 1


# ---------------------------------------------------------------------------- the run


def _prepare_output(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise BatchError(f"--out {out} is a file, not a folder: choose a folder for the audio")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BatchError(
            f"cannot write to the output folder {out}: {exc.strerror or exc}; choose a folder "
            "you can write to"
        ) from None
    return out


def _sort_order(jobs_file: JobsFile) -> dict[tuple, int]:
    order: dict[tuple, int] = {}
    entries = [(b.line, ("line", b.line)) for b in jobs_file.bad_lines] + [
        (job.line, ("file", item.file.casefold())) for job in jobs_file.jobs for item in job.items
    ]
    for position, (_, key) in enumerate(sorted(entries, key=lambda e: e[0])):
        order[key] = position
    return order


def _what_to_do(chunks, latest, out: Path, fmt: str, retry_failed: bool, tally: Tally, say):
    """Per chunk, the files still to write; complete files and old failures are counted."""
    work: list[tuple[Chunk, set[str]]] = []
    for chunk in chunks:
        todo: set[str] = set()
        for item in chunk.items:
            record = latest.get(("file", item.file.casefold()))
            if record is None:
                todo.add(item.file)
                continue
            if record["status"] == "failed":
                if retry_failed:
                    todo.add(item.file)
                else:
                    tally.failed_earlier += 1
                continue
            same = all(record.get(k) == v for k, v in _record_settings(item, fmt).items())
            problem = check_file(out, record) if same else "its settings changed"
            if problem is None:
                tally.skipped += 1
            else:
                say(f"{item.file}: {problem}; the job runs again")
                todo.add(item.file)
        if todo:
            work.append((chunk, todo))
    return work


def run_batch(args: argparse.Namespace, model_folders: Callable[[], dict[str, Path]]) -> int:
    """The batch command; returns the exit status (0 when every job's files are in --out)."""
    from tqdm import tqdm

    ranks = Ranks.from_environment()
    if getattr(args, "download", False) and ranks.world_size > 1:
        raise BatchError(
            "--download cannot run in every process at once: fetch the weights first with "
            "`python -m audiogen_core download --model-dir DIR`, then start torchrun"
        )
    defaults = _defaults(args)
    out = _prepare_output(args.out)
    try:
        jobs_file = read_jobs(args.jobs, defaults)
    except JobsFileError as exc:
        raise BatchError(str(exc)) from None
    folders = model_folders()
    if ranks.rank == 0:
        for warning in jobs_file.warnings:
            ranks.say(f"warning: {warning}")
        for bad in jobs_file.bad_lines:
            ranks.say(f"failed: {args.jobs.name} line {bad.line}: {bad.message}")

    chunks = plan_chunks(jobs_file.jobs, args.batch_size)
    mine = chunks[ranks.rank :: ranks.world_size]
    records, problems = read_records(out)
    latest = latest_records(records)
    if ranks.rank == 0:
        for problem in problems:
            ranks.say(problem)
    tally = Tally()
    work = _what_to_do(mine, latest, out, args.format, args.retry_failed, tally, ranks.say)

    device = _device(args.device, ranks)
    dist = _start_process_group(ranks, device)
    pipe = _load_models(folders, device, args.dtype, args.weight_dtype, ranks) if work else None
    part = ManifestPart(out, ranks.rank)
    if ranks.rank == 0:
        _record_bad_lines(part, jobs_file.bad_lines, latest)
    started = time.perf_counter()
    worker = _Worker(pipe, out, args.format, ranks, part, tally)
    total = sum(len(todo) for _, todo in work)
    try:
        with tqdm(total=total, desc=ranks.label, unit="file", file=sys.stderr) as progress:
            for chunk, todo in work:
                worker.run_chunk(chunk, todo, progress)
    finally:
        part.close()
    tally.busy_s = time.perf_counter() - started

    tallies = [tally]
    if dist is not None:
        tallies = [None] * ranks.world_size
        dist.all_gather_object(tallies, tally)  # also waits for every process to finish
        dist.destroy_process_group()
    if ranks.rank != 0:
        return 0
    merged = merge(out, _sort_order(jobs_file))
    remove_temporaries(out)
    return _summary(ranks, tallies, jobs_file, merged, out)


def _load_models(folders: dict[str, Path], device: str, dtype: str, weight_dtype: str, ranks):
    """The three models on this process's device (the folders were checked already)."""
    from ..checkpoints.weights import load_audio_tokenizer, load_generator, load_text_encoder
    from ..models.ops import weight_dtype_from_name
    from ..pipeline import AudioGenPipeline
    from ..runtime.devices import resolve_device, resolve_dtype

    loading = time.perf_counter()
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    stored = weight_dtype_from_name(weight_dtype)
    pipe = AudioGenPipeline(
        generator=load_generator(
            folders["generator"], torch_device, torch_dtype, weight_dtype=stored
        ),
        text_encoder=load_text_encoder(
            folders["text_encoder"], torch_device, torch_dtype, weight_dtype=stored
        ),
        audio_tokenizer=load_audio_tokenizer(
            folders["audio_tokenizer"],
            torch_device,
            torch_dtype,
            include_encoder=False,
            weight_dtype=stored,
        ),
    )
    ranks.say(f"models loaded in {time.perf_counter() - loading:.1f} s on {pipe.generator.device}")
    return pipe


def _record_bad_lines(part: ManifestPart, bad_lines: list[BadLine], latest: dict) -> None:
    for bad in bad_lines:
        earlier = latest.get(("line", bad.line))
        if earlier is None or earlier.get("error") != bad.message:
            part.append({"status": "failed", "line": bad.line, "file": None, "error": bad.message})


def _summary(ranks: Ranks, tallies: list[Tally], jobs_file: JobsFile, merged, out: Path) -> int:
    done = sum(t.done for t in tallies)
    skipped = sum(t.skipped for t in tallies)
    failed = sum(t.failed for t in tallies)
    earlier = sum(t.failed_earlier for t in tallies)
    audio_s = sum(t.audio_s for t in tallies)
    wall_s = max(t.busy_s for t in tallies)
    lines = [
        f"done {done}, skipped {skipped} (already complete), failed {failed}"
        + (f", not retried {earlier} (failed before; --retry-failed)" if earlier else "")
        + f", bad lines {len(jobs_file.bad_lines)}",
    ]
    if done:
        lines.append(
            f"audio {audio_s:.1f} s generated in {wall_s:.2f} s by {len(tallies)} "
            f"process{'es' if len(tallies) > 1 else ''}: real-time factor {wall_s / audio_s:.3f} "
            f"(time / audio), {done / wall_s * 3600:.0f} files per hour"
        )
    lines.append(f"manifest: {out / MANIFEST_NAME}")
    for line in lines:
        ranks.say(line)
    expected = {("file", i.file.casefold()) for job in jobs_file.jobs for i in job.items}
    complete = {record_key(r) for r in merged if r["status"] == "done"}
    return 0 if expected <= complete and not jobs_file.bad_lines else 1
