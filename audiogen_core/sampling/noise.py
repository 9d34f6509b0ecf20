"""Seeds and the initial noise, reproducible on every device.

The initial noise of batch item ``j`` is drawn on the CPU from its own generator seeded with
``seed + j`` and then moved to the model's device, so a seed gives the same audio on CPU, CUDA
and MPS, and any variation of a batch can be re-made alone. (The reference draws from the
global RNG of the device, so its streams differ per device.)
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

from .settings import SETTINGS


def resolve_seed(seed: int | None) -> int:
    """A checked seed; ``None`` or -1 draws a fresh random one (reported back to the caller)."""
    checked = SETTINGS.check_seed(seed, "seed")
    return random.randrange(SETTINGS.seed_modulus) if checked is None else checked


def item_seeds(seed: int | Sequence[int] | None, batch: int) -> list[int]:
    """Seeds of a batch's items: ``seed + j`` for item ``j``, or one given seed per item.

    Per-item seeds let a batch runner put items of different jobs into one sampler call while
    each keeps the noise it would get alone.
    """
    if isinstance(seed, Sequence):
        if len(seed) != batch:
            raise ValueError(f"got {len(seed)} seeds for a batch of {batch} items")
        return [resolve_seed(s) for s in seed]
    base_seed = resolve_seed(seed)
    return [(base_seed + j) % SETTINGS.seed_modulus for j in range(batch)]


def seeded_noise(seeds: Sequence[int], channels: int, frames: int) -> torch.Tensor:
    """Standard normal noise (B, channels, frames), item j drawn from its own CPU generator."""
    rows = []
    for seed in seeds:
        generator = torch.Generator(device="cpu").manual_seed(seed)
        rows.append(torch.randn((channels, frames), generator=generator, dtype=torch.float32))
    return torch.stack(rows)
