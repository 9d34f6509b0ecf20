"""Cost of the time-aligned conditionings against text-to-audio: layout time, cached-term
memory and sampling time.

Text-to-audio feeds one time-aligned vector to every frame, so each block caches one projected
vector per item; the aligned mode and timelines feed one per frame, so each block caches a
(frames, width) table. This script builds a random generator of the official architecture at
a chosen size (as bench_generator.py) and measures, for the same prompt, noise and length:

* layout: ``align`` (model timing scaled to the length) and ``timeline`` (four events) times;
* cached: bytes of the per-block time-aligned terms that ``step_constants`` keeps;
* sample: seconds per ``sample`` call (median of repeats, alternating the modes).

Usage:
    python benchmarks/bench_time_aligned.py [--embed-dim 512 --depth 12 --frames 250 ...]
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

from audiogen_core.conditioning.alignment import (
    align,  # noqa: E402
    lay_out_timeline,  # noqa: E402
)
from audiogen_core.conditioning.encoded import (
    ConditioningTensors,  # noqa: E402
    condition,  # noqa: E402
)
from audiogen_core.runtime.devices import resolve_device, resolve_dtype  # noqa: E402
from audiogen_core.sampling.guidance import dit_inputs  # noqa: E402
from audiogen_core.sampling.sampler import sample  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_size_arguments(parser, latent_dim=256, content_dim=256)
    add_sampling_arguments(parser, steps=8, repeats=3)
    return parser.parse_args()


def cached_bytes(model, cond, frames: int, guidance: bool) -> int:
    constants = model.prepare(dit_inputs(model, cond, frames, guidance), frames)
    return sum(b.time_aligned.numel() * b.time_aligned.element_size() for b in constants.blocks)


def rows(cond: ConditioningTensors, index: slice) -> ConditioningTensors:
    """Some items of a text-to-audio conditioning."""
    values = {f.name: getattr(cond, f.name) for f in dataclasses.fields(cond)}
    return ConditioningTensors(**{k: v[index] for k, v in values.items() if v is not None})


def timed(fn, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def main() -> None:
    args = parse_args()
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    model = build_generator(args, device, dtype)
    torch.manual_seed(1)
    hidden = torch.randn(5, args.tokens, args.content_dim, device=device)
    mask = torch.ones(5, args.tokens, dtype=torch.bool, device=device)
    prompts = condition(model, hidden, mask)
    frames = args.frames
    text = dataclasses.replace(
        rows(prompts, slice(0, 1)), latent_lengths=torch.tensor([frames], device=device)
    )
    aligned, align_s = timed(lambda: align(model, text, frames=frames), device)
    quarter = frames // 4
    spans = [(i * quarter, min(frames, (i + 2) * quarter)) for i in range(4)]
    events = rows(prompts, slice(1, 5))
    timeline, timeline_s = timed(
        lambda: lay_out_timeline(model, events, spans, frames, base=text), device
    )
    guided = args.guidance > 1.0
    modes = {"text-to-audio": text, "aligned": aligned, "timeline": timeline}
    noise = torch.randn(1, args.latent_dim, frames, device=device)
    print(
        f"width {args.embed_dim}, depth {args.depth}, {device} {dtype}; {frames} frames, "
        f"{args.tokens} tokens, {args.steps} steps, guidance {args.guidance}"
    )
    print(f"layout: align {align_s * 1e3:.1f} ms, timeline of 4 events {timeline_s * 1e3:.1f} ms")
    for cond in modes.values():  # warm-up
        sample(model, cond, noise, steps=1, guidance=args.guidance)
    seconds = {name: [] for name in modes}
    for _ in range(args.repeats):
        for name, cond in modes.items():
            _, s = timed(
                lambda c=cond: sample(model, c, noise, steps=args.steps, guidance=args.guidance),
                device,
            )
            seconds[name].append(s)
    for name, cond in modes.items():
        mib = cached_bytes(model, cond, frames, guided) / 2**20
        print(
            f"{name:>13}: {statistics.median(seconds[name]):6.2f} s per sample call, "
            f"cached time-aligned terms {mib:8.2f} MiB"
        )


if __name__ == "__main__":
    main()
