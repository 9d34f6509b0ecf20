"""Per-step cost of blended prompts (the blend time mode) with 0, 1 and 3 timed prompts.

Every timed prompt that is heard somewhere in the clip adds one conditional row to the single
batched DiT call of each step (the unconditional row is shared), so with guidance a step
evaluates 2 + k rows instead of 2. This script builds a random generator of the official
architecture at a chosen size (as bench_generator.py) and times ``sample`` for the same noise
and length with k = 0, 1, 3 prompts whose ranges each cover part of the clip (so the blend is
really computed), alternating the cases; it reports seconds per step (median of repeats).

Usage:
    python benchmarks/bench_blend.py [--embed-dim 256 --depth 6 --frames 250 --steps 4 ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_generator import build_generator  # noqa: E402
from generator_sizes import add_sampling_arguments, add_size_arguments  # noqa: E402

from audiogen_core.conditioning.blending import blend_weights, event_weights  # noqa: E402
from audiogen_core.conditioning.encoded import (
    TimedPromptTensors,  # noqa: E402
    condition,  # noqa: E402
)
from audiogen_core.conditioning.timegrid import TimeGrid  # noqa: E402
from audiogen_core.conditioning.timeline import TimelineEvent  # noqa: E402
from audiogen_core.runtime.devices import resolve_device, resolve_dtype  # noqa: E402
from audiogen_core.sampling.sampler import sample  # noqa: E402

PROMPT = "<|caption|> benchmark"
COUNTS = (0, 1, 3)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_size_arguments(parser, latent_dim=256, content_dim=256)
    add_sampling_arguments(parser, steps=4, repeats=3)
    return parser.parse_args()


def timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def with_prompts(model, base, prompts, frames: int):
    """``base`` with ``len(prompts)`` timed prompts over staggered, overlapping thirds."""
    if not prompts:
        return base
    grid = TimeGrid(frame_rate=int(model.frame_rate), sample_rate=int(model.sample_rate))
    clip_s = frames / grid.frame_rate
    events = [
        TimelineEvent(clip_s * i / 4, clip_s * (i + 2) / 4 - 0.2, PROMPT, fade_s=0.08)
        for i in range(len(prompts))
    ]
    weights = blend_weights(event_weights(grid, frames, events))[None]
    return dataclasses.replace(base, timed=TimedPromptTensors(tuple(prompts), weights))


def main() -> None:
    args = parse_args()
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    model = build_generator(args, device, dtype)
    torch.manual_seed(1)
    hidden = torch.randn(4, args.tokens, args.content_dim, device=device)
    mask = torch.ones(4, args.tokens, dtype=torch.bool, device=device)
    conds = [condition(model, hidden[i : i + 1], mask[i : i + 1]) for i in range(4)]
    frames = args.frames
    base = dataclasses.replace(conds[0], latent_lengths=torch.tensor([frames], device=device))
    cases = {k: with_prompts(model, base, conds[1 : 1 + k], frames) for k in COUNTS}
    noise = torch.randn(1, args.latent_dim, frames, device=device)
    print(
        f"width {args.embed_dim}, depth {args.depth}, {device} {dtype}; {frames} frames, "
        f"{args.tokens} tokens, {args.steps} steps, guidance {args.guidance}"
    )
    for cond in cases.values():  # warm-up
        sample(model, cond, noise, steps=1, guidance=args.guidance)
    seconds = {k: [] for k in cases}
    for _ in range(args.repeats):
        for k, cond in cases.items():
            run = lambda c=cond: sample(model, c, noise, steps=args.steps, guidance=args.guidance)  # noqa: E731
            seconds[k].append(timed(run, device) / args.steps)
    guided = args.guidance > 1.0
    plain = statistics.median(seconds[0])
    for k in cases:
        per_step = statistics.median(seconds[k])
        print(
            f"{k} timed prompts: {k + 1 + guided} rows per step, {per_step * 1e3:7.1f} ms per "
            f"step ({per_step / plain:.2f}x text-to-audio)"
        )


if __name__ == "__main__":
    main()
