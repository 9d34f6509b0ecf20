"""Flow-matching schedules and the Euler sampler of Dasheng-AudioGen.

Convention: sigma 1 is pure noise, sigma 0 is data, the model predicts the velocity
noise - data, and one Euler step is x <- x + (sigma_next - sigma) * v. The DiT is called with
the float timestep sigma * 1000 and truncates it to an integer itself.

The sway schedule ends with sigma = 0 followed by the appended 0, a step of size zero that the
reference still evaluates; :func:`euler_sample` skips zero-size steps, which leaves the result
bitwise unchanged and saves one DiT evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

NUM_TRAIN_TIMESTEPS = 1000

VelocityFn = Callable[[Tensor, Tensor], Tensor]
ProgressCallback = Callable[[int, int], None]


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


def timesteps_from_sigmas(sigmas: Tensor) -> Tensor:
    """Float timesteps sigma * 1000 (float32), one per step: the final appended 0 has none."""
    return sigmas[:-1].float() * NUM_TRAIN_TIMESTEPS


def evaluated_steps(sigmas: Tensor) -> list[int]:
    """Indices k of the steps sigma_k -> sigma_{k+1} that change the sample (non-zero size)."""
    values = sigmas.tolist()
    return [k for k in range(len(values) - 1) if values[k + 1] != values[k]]


def euler_sample(
    velocity_fn: VelocityFn,
    x: Tensor,
    sigmas: Tensor,
    callback: ProgressCallback | None = None,
) -> Tensor:
    """Integrate from sigmas[0] to sigmas[-1] with Euler steps, in float32.

    ``velocity_fn(x, timestep)`` gets the float32 sample and a 0-dim float32 timestep
    (sigma * 1000). ``callback(step, total)`` runs after each evaluated step (step counts from
    1, total = number of evaluations); an exception it raises (e.g. a cancel) propagates.
    """
    x = x.float()
    sigmas = sigmas.to(device=x.device, dtype=torch.float32)
    timesteps = timesteps_from_sigmas(sigmas)
    steps = evaluated_steps(sigmas)
    for done, k in enumerate(steps, start=1):
        velocity = velocity_fn(x, timesteps[k])
        x = x + (sigmas[k + 1] - sigmas[k]) * velocity.float()
        if callback is not None:
            callback(done, len(steps))
    return x
