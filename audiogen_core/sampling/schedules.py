"""Flow-matching sigma schedules of Dasheng-AudioGen (the Euler loop is ``euler.py``).

Convention: sigma 1 is pure noise, sigma 0 is data. The DiT is called with the float timestep
sigma * 1000 and truncates it to an integer itself.

The sway schedule ends with sigma = 0 followed by the appended 0, a step of size zero that the
reference still evaluates; :func:`evaluated_steps` leaves zero-size steps out, which leaves the
result bitwise unchanged and saves one DiT evaluation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .settings import SETTINGS

NUM_TRAIN_TIMESTEPS = 1000


def sigma_schedule(steps: int, sway: float) -> Tensor:
    """The scheduler's float32 sigmas, including the appended final 0.

    A non-zero ``sway`` (sway-sampling coefficient) gives steps + 2 values (sway sampling, ending
    in two zeros); 0.0 gives linear sigmas 1 .. 1/steps plus the final 0 (steps + 1 values).
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    # The reference tests `if sway_sampling_coef:`, so exactly 0.0 selects the linear schedule.
    if sway:
        t = torch.linspace(0, 1, steps + 1, dtype=torch.float32)
        t = t + sway * (torch.cos(math.pi / 2.0 * t) - 1.0 + t)
        sigmas = 1.0 - t
    else:
        sigmas = torch.linspace(1.0, 1.0 / steps, steps, dtype=torch.float32)
    return torch.cat([sigmas, torch.zeros(1, dtype=torch.float32)])


def denoise_schedule(steps: int, sway: float, denoise: float) -> Tensor:
    """The sigmas of a partial denoise, as ComfyUI's KSampler does for ``denoise`` < 1.

    Builds the schedule for round(steps / denoise) steps and keeps its last ``steps``
    steps (steps + 1 sigmas ending in 0), so the run starts at the schedule's own noise
    level for that point instead of at 1. ``denoise`` 1 keeps every sigma that changes the
    sample, which gives the same Euler steps as :func:`sigma_schedule`. (ComfyUI floors
    steps / denoise; rounding is the same up to one extra step and does not depend on
    how the float ``denoise`` happens to be represented.)
    """
    denoise = SETTINGS.check_denoise(denoise)
    total = max(steps, round(steps / denoise))
    full = sigma_schedule(total, sway)
    # Both schedules reach 0 after `total` steps; sway appends a zero-size step after it.
    return full[: total + 1][-(steps + 1) :]


def timesteps_from_sigmas(sigmas: Tensor) -> Tensor:
    """Float timesteps sigma * 1000 (float32), one per step: the final appended 0 has none."""
    return sigmas[:-1].float() * NUM_TRAIN_TIMESTEPS


def evaluated_steps(sigmas: Tensor) -> list[int]:
    """Indices k of the steps sigma_k -> sigma_{k+1} that change the sample (non-zero size)."""
    values = sigmas.tolist()
    return [k for k in range(len(values) - 1) if values[k + 1] != values[k]]
