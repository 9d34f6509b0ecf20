"""The Euler loop of flow matching, and the step hook that keeps known frames of a latent.

Convention: sigma 1 is pure noise, sigma 0 is data, the model predicts the velocity
noise - data, and one Euler step is x <- x + (sigma_next - sigma) * v. Zero-size steps (the
sway schedule's last) are skipped (``schedules.evaluated_steps``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .schedules import evaluated_steps, timesteps_from_sigmas

VelocityFn = Callable[[Tensor, Tensor], Tensor]
ProgressCallback = Callable[[int, int], None]
# after_step(x, sigma_next) -> x: a correction applied after every evaluated Euler step.
StepHook = Callable[[Tensor, Tensor], Tensor]


def start_sample(init: Tensor, noise: Tensor, sigma: Tensor) -> Tensor:
    """The init forward-noised to ``sigma`` on the straight path: (1 - sigma) init + sigma noise.

    This is where a partial denoise starts, and what known frames are reset to at every step.
    """
    return (1.0 - sigma) * init + sigma * noise


def keep_known_frames(init: Tensor, noise: Tensor, noise_mask: Tensor) -> StepHook:
    """Step hook for regenerating part of a latent (1 = regenerate, 0 = keep, soft between).

    After every step to sigma_next the sample becomes
    ``mask * x + (1 - mask) * start_sample(init, noise, sigma_next)``: kept frames follow the
    init's own noising path with the same noise, so the model generates the masked frames to
    fit around them. At the final sigma 0, frames whose mask is 0 equal the init exactly.
    ``noise_mask`` broadcasts against the (b, c, t) sample, e.g. (b, 1, t).
    """
    keep = 1.0 - noise_mask

    def after_step(x: Tensor, sigma_next: Tensor) -> Tensor:
        return noise_mask * x + keep * start_sample(init, noise, sigma_next)

    return after_step


def euler_sample(
    velocity_fn: VelocityFn,
    x: Tensor,
    sigmas: Tensor,
    callback: ProgressCallback | None = None,
    after_step: StepHook | None = None,
) -> Tensor:
    """Integrate from sigmas[0] to sigmas[-1] with Euler steps, in float32.

    ``velocity_fn(x, timestep)`` gets the float32 sample and a 0-dim float32 timestep
    (sigma * 1000). ``after_step(x, sigma_next)``, if given, replaces the sample after each
    evaluated step (see :func:`keep_known_frames`). ``callback(step, total)`` runs after each
    evaluated step (step counts from 1, total = number of evaluations); an exception it raises
    (e.g. a cancel) propagates.
    """
    x = x.float()
    sigmas = sigmas.to(device=x.device, dtype=torch.float32)
    timesteps = timesteps_from_sigmas(sigmas)
    steps = evaluated_steps(sigmas)
    for done, k in enumerate(steps, start=1):
        velocity = velocity_fn(x, timesteps[k])
        x = x + (sigmas[k + 1] - sigmas[k]) * velocity.float()
        if after_step is not None:
            x = after_step(x, sigmas[k + 1])
        if callback is not None:
            callback(done, len(steps))
    return x
