"""The pack's noise and schedule in the shapes ComfyUI's sampling nodes take (plain torch).

* :class:`AudioGenNoiseSource` is a ComfyUI NOISE: item ``j`` of the latent gets the pack's
  noise for seed ``seed + j`` (its own CPU generator), where ComfyUI's RandomNoise draws the
  whole batch from one generator. A latent picked out of a batch (``batch_index``, e.g. Latent
  From Batch) keeps its item's seed.
* :func:`sway_sigmas` is the official schedule as SIGMAS, without the zero-size final step
  that ComfyUI's samplers would turn into 0 / 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from audiogen_core.sampling.noise import resolve_seed, seeded_noise
from audiogen_core.sampling.schedules import denoise_schedule
from audiogen_core.sampling.settings import SETTINGS


class AudioGenNoiseSource:
    """ComfyUI's NOISE protocol: a ``seed`` and ``generate_noise(latent dict)``."""

    def __init__(self, seed: int) -> None:
        self.seed = resolve_seed(seed)

    def generate_noise(self, input_latent: dict) -> Tensor:
        samples = input_latent["samples"]
        if samples.dim() != 3:
            raise ValueError(
                f"AudioGen Noise makes noise for AudioGen latents (batch, channels, frames), "
                f"got a latent shaped {tuple(samples.shape)}"
            )
        index = input_latent.get("batch_index")
        offsets = range(samples.shape[0]) if index is None else [int(i) for i in index]
        seeds = [(self.seed + j) % SETTINGS.seed_modulus for j in offsets]
        return seeded_noise(seeds, int(samples.shape[1]), int(samples.shape[2]))


def sway_sigmas(steps: int, sway: float, denoise: float) -> Tensor:
    """The sigmas the pack's Sampler integrates over (float32, 1 -> 0), ``denoise`` < 1
    keeping the last ``steps`` of round(steps / denoise) as it does."""
    return denoise_schedule(steps, sway, denoise).to(torch.float32)
