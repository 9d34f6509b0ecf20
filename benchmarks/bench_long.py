"""Cost of long soundtracks: windows, DiT evaluations, full-size time per minute, memory.

Three parts:

* plan: the windows the pipeline samples for a soundtrack (default window 20 s, overlap 4 s),
  how many frames that samples in all and how many DiT evaluations it takes;
* full-size estimate: the official DiT's cost per CFG evaluation, scaled from a measured
  ``--step-seconds`` at 10 s (250 frames) by the architecture's multiply-adds at each
  window's length (per-frame layers grow with T, self-attention with T^2), plus decoding;
* ``--measure``: times one CFG evaluation of a resized generator (``--embed-dim`` etc.) at
  250 frames, at one window and at the whole soundtrack in one pass, to check that scaling;
* ``--tiny-memory DIR``: peak RSS and time of 20 s and 180 s runs of the tiny test model
  (``tests/tiny_snapshots.py`` folders in DIR, written if missing), each in its own process.

Usage:
    python benchmarks/bench_long.py [--seconds 60] [--measure] [--tiny-memory /tmp/tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_generator import build_generator, make_conditioning  # noqa: E402
from generator_sizes import add_size_arguments  # noqa: E402

from audiogen_core.conditioning.timegrid import TimeGrid  # noqa: E402
from audiogen_core.sampling.sampler import sample  # noqa: E402
from audiogen_core.sampling.schedules import denoise_schedule, evaluated_steps  # noqa: E402
from audiogen_core.sampling.settings import SETTINGS  # noqa: E402
from audiogen_core.sampling.windows import (  # noqa: E402
    plan_windows,
    window_frames,
)

GRID = TimeGrid(frame_rate=25, sample_rate=16000)
# Official sizes (spec: DiT width 1536, 33 blocks, latent 1280).
WIDTH, BLOCKS, LATENT = 1536, 33, 1280
# Decoding 10 s with the full-size decoder in fp32 on 2 CPU cores (docs/performance.md,
# bench_decode.py).
DECODE_S_PER_10S = 1.3


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="soundtrack length")
    parser.add_argument("--window", type=float, default=SETTINGS.window_s)
    parser.add_argument("--overlap", type=float, default=SETTINGS.overlap_s)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=11.0,
        help="measured seconds per CFG evaluation of the full-size DiT at 250 frames",
    )
    parser.add_argument("--measure", action="store_true", help="time a resized generator")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tiny-memory", type=Path, default=None, metavar="DIR")
    add_size_arguments(parser, latent_dim=256, content_dim=256)
    parser.set_defaults(batch=1, guidance=5.0, dtype="fp32")
    return parser.parse_args()


def dit_flops(frames: int, width: int = WIDTH, blocks: int = BLOCKS, latent: int = LATENT):
    """Multiply-adds x 2 of one CFG evaluation (two batch rows) of the DiT at ``frames``.

    Per block and frame the linear layers take 18 width^2 multiply-adds (spec, cost notes);
    self-attention scores and values take 2 frames^2 width more per block; the input
    projection and the final k=3 convolution add latent * width + 3 latent^2 per frame.
    """
    per_row = blocks * (18 * width**2 * frames + 2 * frames**2 * width)
    per_row += frames * (latent * width + 3 * latent**2)
    return 2 * 2 * per_row


def plan(args: argparse.Namespace):
    total = GRID.frames(args.seconds)
    window, overlap = window_frames(GRID, args.window, args.overlap)
    windows = plan_windows(total, window, overlap)
    evals = len(evaluated_steps(denoise_schedule(args.steps, -1.0, 1.0)))
    return total, windows, evals


def report_plan(args: argparse.Namespace) -> None:
    total, windows, evals = plan(args)
    sampled = sum(w.stop - w.start for w in windows)
    print(
        f"{args.seconds:g} s soundtrack, window {args.window:g} s, overlap {args.overlap:g} s: "
        f"{len(windows)} windows {[(w.start, w.stop) for w in windows]}, {sampled} frames "
        f"sampled for {total} ({sampled / total:.2f}x), {evals} CFG evaluations per window, "
        f"{evals * len(windows)} in all"
    )
    base = dit_flops(250)
    windowed = sum(evals * args.step_seconds * dit_flops(w.stop - w.start) / base for w in windows)
    one_pass = evals * args.step_seconds * dit_flops(total) / base
    decode = DECODE_S_PER_10S * args.seconds / 10
    per_minute = 60 / args.seconds
    print(
        f"full-size estimate at {args.step_seconds:g} s per CFG evaluation of 10 s: sampling "
        f"{windowed:.0f} s windowed ({windowed * per_minute / 60:.1f} min per minute of "
        f"soundtrack) vs {one_pass:.0f} s in one pass; decoding {decode:.1f} s"
    )


def time_evaluation(model, args, frames: int) -> float:
    args.frames = frames
    cond = make_conditioning(model, args, torch.device("cpu"))
    noise = torch.randn(1, args.latent_dim, frames)
    times = []
    for _ in range(args.repeats + 1):  # the first call warms up
        # CPU time of this process: a busy machine stretches wall time, not this.
        start = time.process_time()
        sample(model, cond, noise, steps=1, guidance=args.guidance)
        times.append(time.process_time() - start)
    return min(times[1:])


def report_measured(args: argparse.Namespace) -> None:
    total, windows, _ = plan(args)
    model = build_generator(args, torch.device("cpu"), torch.float32)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    lengths = sorted({250, windows[0].stop - windows[0].start, total})
    measured = {n: time_evaluation(model, args, n) for n in lengths}
    flops = {n: dit_flops(n, args.embed_dim, args.depth + 1, args.latent_dim) for n in lengths}
    print(
        f"resized DiT ({params:.0f} M parameters, width {args.embed_dim}), one CFG "
        f"evaluation, CPU seconds on {torch.get_num_threads()} thread(s):"
    )
    for n in lengths:
        print(
            f"  {n:5d} frames: {measured[n]:.3f} s = {measured[n] / measured[250]:.2f}x the "
            f"250-frame time; multiply-add model says {flops[n] / flops[250]:.2f}x"
        )


TINY_SCRIPT = """
import json, resource, sys, time
from audiogen_core.pipeline import AudioGenPipeline
pipe = AudioGenPipeline.from_model_dir(sys.argv[1], device="cpu", dtype="fp32")
seconds, window, chunk = float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
cond = pipe.encode_prompt("<|caption|> rain")
start = time.perf_counter()
latent = pipe.sample(cond, seed=0, steps=2, duration_s=seconds,
                     window_s=None if window == "none" else float(window))
audio = pipe.decode(latent, chunk_frames=chunk)
print(json.dumps({"s": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def report_tiny_memory(folder: Path) -> None:
    if not (folder / "Dasheng-AudioGen").is_dir():
        sys.path.insert(0, str(REPO / "tests" / "support"))
        from tiny_snapshots import write_tiny_snapshots

        write_tiny_snapshots(folder)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    runs = [
        ("20 s, one window", "20", "20", "750"),
        ("180 s, windows + decoding in pieces", "180", "20", "750"),
        ("180 s, windows, decoded in one pass", "180", "20", str(10**9)),
        ("180 s, sampled and decoded in one pass", "180", "none", str(10**9)),
    ]
    print("tiny model (2 steps, CFG), separate processes:")
    for label, *argv in runs:
        done = subprocess.run(
            [sys.executable, "-c", TINY_SCRIPT, str(folder), *argv],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  {label}: {result['s']:.1f} s, peak RSS {result['peak_mb']:.0f} MB")


def main() -> None:
    args = parse_args()
    report_plan(args)
    if args.measure:
        report_measured(args)
    if args.tiny_memory is not None:
        report_tiny_memory(args.tiny_memory)


if __name__ == "__main__":
    main()
