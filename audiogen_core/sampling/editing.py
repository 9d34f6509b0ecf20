"""Mark what to regenerate in a latent: ranges with soft edges, and frames added at its ends.

These functions only return a new :class:`~audiogen_core.sampling.latent.AudioLatent` with its
``noise_mask`` set (1 = regenerate, 0 = keep); ``AudioGenPipeline.sample(cond, init=latent)``
does the generating. Times are seconds of the latent's own clip.
"""

from __future__ import annotations

import dataclasses

import torch

from ..conditioning.timegrid import TimeGrid, range_weights
from .latent import AudioLatent


def latent_grid(latent: AudioLatent) -> TimeGrid:
    return TimeGrid(frame_rate=latent.frame_rate, sample_rate=latent.sample_rate)


def current_mask(latent: AudioLatent) -> torch.Tensor:
    """The latent's noise mask (B or 1, T), all 0 (keep everything) when it has none.

    Marking starts from keeping everything; ``sample`` itself treats a latent without a mask
    as all 1 (regenerate everything, the audio-to-audio case), as ComfyUI does with a LATENT
    that has no ``noise_mask``.
    """
    if latent.noise_mask is not None:
        return latent.noise_mask.float()
    return torch.zeros((1, latent.latent.shape[-1]), dtype=torch.float32)


def regenerate_range(
    latent: AudioLatent, start_s: float, end_s: float, fade_s: float = 0.0
) -> AudioLatent:
    """The latent with [start_s, end_s) marked for regeneration, soft over ``fade_s`` inside.

    Chainable: the new range is added to the mask already there (the larger weight wins).
    The clip is as long as its shortest item (``min(num_samples)``), so a range never reaches
    past the audio of any item.
    """
    grid = latent_grid(latent)
    frames = latent.latent.shape[-1]
    clip_frames = min(frames, grid.frames_covering(min(latent.num_samples)))
    weights = range_weights(grid, clip_frames, start_s, end_s, fade_s)
    weights = torch.nn.functional.pad(weights, (0, frames - clip_frames))
    return dataclasses.replace(latent, noise_mask=torch.maximum(current_mask(latent), weights))


def extend(latent: AudioLatent, before_s: float = 0.0, after_s: float = 0.0) -> AudioLatent:
    """The latent with frames to generate added before and after it (noise mask 1 there).

    ``before_s`` snaps to the frame grid (the clip's own frames must stay whole); the result
    then lasts exactly round(before_s * frame_rate) frames plus the clip's own samples plus
    ``after_s`` to the sample. The added frames hold zeros: sample them with ``denoise`` 1, as
    a partial denoise would start them from a noised silence.
    """
    for name, value in (("before_s", before_s), ("after_s", after_s)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    grid = latent_grid(latent)
    before = grid.frames(before_s)
    if before_s > 0 and before == 0:
        raise ValueError(
            f"before_s {before_s:g} is shorter than half a latent frame "
            f"({0.5 / grid.frame_rate:g} s): use 0 or at least {1 / grid.frame_rate:g} s"
        )
    if after_s > 0 and grid.samples(after_s) == 0:
        raise ValueError(f"after_s {after_s:g} is shorter than one sample: use 0 or more")
    frames = latent.latent.shape[-1]
    if len(set(latent.lengths.tolist())) != 1 or int(latent.lengths[0]) != frames:
        raise ValueError(
            "extend needs every item of the latent to fill all its frames; generate the "
            "clips with one set duration (or encode audio clips of one length)"
        )
    num_samples = [
        before * grid.samples_per_frame + n + grid.samples(after_s) for n in latent.num_samples
    ]
    total = max(before + frames, grid.frames_covering(max(num_samples)))
    after = total - before - frames
    mask = torch.nn.functional.pad(current_mask(latent), (before, after), value=1.0)
    return dataclasses.replace(
        latent,
        latent=torch.nn.functional.pad(latent.latent, (before, after)),
        lengths=latent.lengths + before + after,
        num_samples=num_samples,
        noise_mask=mask,
    )
