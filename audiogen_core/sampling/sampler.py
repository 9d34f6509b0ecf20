"""The sampler entry: from noise (and optionally a latent to edit) to a latent, arguments checked.

``sample`` ties the parts together for one call of at most one window: the sigma schedule
(``schedules.py``), the guided and blended velocity (``guidance.py``) and the Euler loop with
its known-frames hook (``euler.py``). Seeds, lengths and windows are the caller's
(``AudioGenPipeline.sample``, ``windows.py``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..conditioning.encoded import ConditioningTensors
from ..models.generator import DashengAudioGenerator
from .euler import ProgressCallback, euler_sample, keep_known_frames, start_sample
from .guidance import guided_velocity
from .schedules import denoise_schedule
from .settings import SETTINGS


@torch.no_grad()
def sample(
    generator: DashengAudioGenerator,
    cond: ConditioningTensors,
    noise: Tensor,
    steps: int = SETTINGS.steps,
    guidance: float = SETTINGS.guidance,
    sway: float = SETTINGS.sway,
    callback: ProgressCallback | None = None,
    *,
    init: Tensor | None = None,
    noise_mask: Tensor | None = None,
    denoise: float = SETTINGS.denoise,
) -> Tensor:
    """Latent (b, latent_dim, t) float32 from noise (b, latent_dim, t), channels-first.

    Frames past an item's length are computed like the reference does (only attention keys
    are masked), so an item's last valid frame sees its first padded one. Guidance runs
    iff ``guidance > 1``. ``callback(step, total)`` is called after every DiT
    evaluation; an exception it raises stops sampling and propagates.

    Editing: ``init`` (shaped like ``noise``) is a latent to start from; ``denoise`` < 1
    runs only the last part of the schedule (see ``schedules.denoise_schedule``), starting
    from the init noised to that level. ``noise_mask`` (b or 1, t), 1 = regenerate and
    0 = keep, keeps the init where it is 0 (``euler.keep_known_frames``).
    """
    sigmas = denoise_schedule(steps, sway, denoise)
    device = generator.device
    cond = cond.to(device)
    _check_noise(generator, cond, noise)
    _check_init(generator, noise, init, noise_mask, denoise)
    noise = noise.to(device).float()
    velocity = guided_velocity(generator, cond, noise.shape[-1], guidance)
    if init is None:
        return euler_sample(velocity, noise, sigmas, callback)
    init = init.to(device).float()
    start = start_sample(init, noise, sigmas[0].to(device))
    after_step = None
    if noise_mask is not None:
        mask = noise_mask.to(device=device, dtype=torch.float32)[:, None, :]
        after_step = keep_known_frames(init, noise, mask)
    return euler_sample(velocity, start, sigmas, callback, after_step)


def _check_noise(
    generator: DashengAudioGenerator, cond: ConditioningTensors, noise: Tensor
) -> None:
    latent_dim = generator.latent_dim
    expected = f"(batch={cond.batch_size}, latent_dim={latent_dim}, frames)"
    if noise.dim() != 3 or noise.shape[:2] != (cond.batch_size, latent_dim):
        raise ValueError(f"noise must be {expected}, got {tuple(noise.shape)}")
    shortest, longest = int(cond.latent_lengths.min()), int(cond.latent_lengths.max())
    if shortest < 1:
        raise ValueError(
            f"latent lengths must be at least 1 frame, got {shortest}; set a positive "
            "duration for that prompt"
        )
    if noise.shape[-1] < longest:
        raise ValueError(
            f"noise has {noise.shape[-1]} frames but the longest item needs {longest}; "
            "draw the noise with max(cond.latent_lengths) frames"
        )


def _check_init(
    generator: DashengAudioGenerator,
    noise: Tensor,
    init: Tensor | None,
    noise_mask: Tensor | None,
    denoise: float,
) -> None:
    if init is None:
        if noise_mask is not None or denoise != 1.0:
            raise ValueError("noise_mask and denoise < 1 need an init latent to keep or start from")
        return
    latent_dim = generator.latent_dim
    if init.dim() != 3 or init.shape[1] != latent_dim:
        raise ValueError(
            f"init must be (batch, latent_dim={latent_dim}, frames), got "
            f"{tuple(init.shape)}: is it a latent of another model size?"
        )
    if init.shape != noise.shape:
        raise ValueError(
            f"init {tuple(init.shape)} and noise {tuple(noise.shape)} must have one shape"
        )
    if noise_mask is not None:
        rows = noise_mask.shape[0] if noise_mask.dim() == 2 else -1
        if rows not in (1, noise.shape[0]) or noise_mask.shape[-1] != noise.shape[-1]:
            raise ValueError(
                f"noise_mask must be (batch or 1, frames={noise.shape[-1]}), got "
                f"{tuple(noise_mask.shape)}"
            )
