"""Seconds per sampling step of the generator: the reference's loop against the cached sampler.

Builds a randomly initialised generator with the official architecture and configurable sizes
(the defaults are a mid-size model that runs in about a minute on a laptop CPU) and times:

* naive: what the reference does every step: a full ``backbone(...)`` call that re-embeds the
  context, recomputes every block's cross-attention keys/values and projects the per-frame
  time-aligned content, with the final zero-size step of the sway schedule evaluated too;
* cached: ``DashengAudioGenerator.sample``, which computes those terms once per call and skips
  the zero-size step.

Usage:
    python benchmarks/bench_generator.py [--embed-dim 512 --depth 12 ...] [--device cuda]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generator_sizes import (  # noqa: E402
    add_sampling_arguments,
    add_size_arguments,
    resized_generator_config,
)

from audiogen_core.conditioning.encoded import ConditioningTensors, condition  # noqa: E402
from audiogen_core.models.adapter import frames_mask  # noqa: E402
from audiogen_core.models.generator import DashengAudioGenerator  # noqa: E402
from audiogen_core.runtime.devices import resolve_device, resolve_dtype  # noqa: E402
from audiogen_core.sampling.sampler import sample  # noqa: E402
from audiogen_core.sampling.schedules import sigma_schedule, timesteps_from_sigmas  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_size_arguments(parser, latent_dim=256, content_dim=256)
    parser.add_argument("--batch", type=int, default=1, help="prompts per call")
    add_sampling_arguments(parser, steps=8, repeats=2)
    return parser.parse_args()


def build_generator(args: argparse.Namespace, device: torch.device, dtype: torch.dtype):
    config = resized_generator_config(args)
    config["adapter_num_heads"] = args.heads
    torch.manual_seed(0)
    with torch.device(device):
        model = DashengAudioGenerator.from_config(config).to(dtype).eval()
    with torch.no_grad():
        model.dummy_ta_embed.normal_()
    return model


def make_conditioning(model, args, device) -> ConditioningTensors:
    hidden = torch.randn(args.batch, args.tokens, args.content_dim, device=device)
    mask = torch.ones(args.batch, args.tokens, dtype=torch.bool, device=device)
    cond = condition(model, hidden, mask)
    lengths = torch.full((args.batch,), args.frames, dtype=torch.int64, device=device)
    return dataclasses.replace(cond, latent_lengths=lengths)


@torch.no_grad()
def naive_sample(model, cond, noise, steps, scale, on_step) -> torch.Tensor:
    """The reference's loop, every term recomputed at every step."""
    batch, frames = noise.shape[0], noise.shape[-1]
    x_mask = frames_mask(cond.latent_lengths, frames)
    ta = model.dummy_ta_embed.expand(batch, frames, -1)
    context, context_mask = cond.context, cond.context_mask
    guidance = scale > 1.0
    if guidance:
        ta, context = torch.cat([torch.zeros_like(ta), ta]), torch.cat([0 * context, context])
        context_mask, x_mask = torch.cat([context_mask] * 2), torch.cat([x_mask] * 2)
    sigmas = sigma_schedule(steps, -1.0).to(noise.device)
    x = noise
    for k, t in enumerate(timesteps_from_sigmas(sigmas)):
        v = model.backbone(
            torch.cat([x, x]) if guidance else x, t, ta, context, x_mask, context_mask
        ).float()
        if guidance:
            uncond, conditioned = v.chunk(2)
            v = uncond + scale * (conditioned - uncond)
        x = x + (sigmas[k + 1] - sigmas[k]) * v
        on_step(k + 1, len(sigmas) - 1)
    return x


class StepTimer:
    """Progress callback that records when each DiT evaluation finished."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.stamps = [self._now()]

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def __call__(self, step: int, total: int) -> None:
        self.stamps.append(self._now())

    def durations(self) -> list[float]:
        return [b - a for a, b in zip(self.stamps[:-1], self.stamps[1:], strict=True)]


def run(
    name: str, model, cond, noise, steps: int, guidance: float
) -> tuple[torch.Tensor, StepTimer]:
    timer = StepTimer(noise.device)
    if name == "naive":
        out = naive_sample(model, cond, noise, steps, guidance, timer)
    else:
        out = sample(model, cond, noise, steps=steps, guidance=guidance, callback=timer)
    return out, timer


def main() -> None:
    args = parse_args()
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    model = build_generator(args, device, dtype)
    params = sum(p.numel() for p in model.parameters())
    cond = make_conditioning(model, args, device)
    noise = torch.randn(args.batch, args.latent_dim, args.frames, device=device)
    print(
        f"model: {params / 1e6:.1f} M parameters, width {args.embed_dim}, depth {args.depth}, "
        f"{device} {dtype}; batch {args.batch}, {args.frames} frames, {args.tokens} tokens, "
        f"{args.steps} steps, guidance {args.guidance}, {args.repeats} repeats"
    )

    names = ("naive", "cached")
    for name in names:  # warm-up: allocator, kernel selection and caches, not timed
        run(name, model, cond, noise, 1, args.guidance)
    latents, steps, calls = {}, {n: [] for n in names}, {n: [] for n in names}
    for _ in range(args.repeats):  # alternate, so a busy machine slows both alike
        for name in names:
            latents[name], timer = run(name, model, cond, noise, args.steps, args.guidance)
            steps[name] += timer.durations()
            calls[name].append(timer.stamps[-1] - timer.stamps[0])

    for name in names:
        print(
            f"{name:>6}: {len(steps[name]) // args.repeats} DiT evaluations per call, "
            f"{statistics.median(calls[name]):7.2f} s per call, "
            f"{statistics.median(steps[name]):.3f} s per evaluation (medians)"
        )
    per_step = statistics.median(steps["naive"]) / statistics.median(steps["cached"])
    per_call = statistics.median(calls["naive"]) / statistics.median(calls["cached"])
    diff = (latents["naive"] - latents["cached"]).abs().max() / latents["naive"].abs().max()
    print(
        f"speed-up: {per_step:.2f}x per evaluation, {per_call:.2f}x per sampling call; "
        f"max relative difference of the latents {diff.item():.1e}"
    )


if __name__ == "__main__":
    main()
