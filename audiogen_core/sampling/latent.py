"""Latent audio between the stages, and the lengths a sampler call makes.

:class:`AudioLatent` is what sampling returns, decoding takes, encoding audio returns and
editing marks (``editing.py``). Lengths are exact: a latent covers whole frames (1/25 s), its
``num_samples`` the exact waveform samples of each item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..conditioning.timegrid import TimeGrid
from ..models.generator import DashengAudioGenerator
from .settings import SETTINGS


@dataclass
class AudioLatent:
    """Latent audio, channels-first (B, latent_dim, T) float32 on the CPU.

    ``lengths`` counts the valid frames of each item and ``num_samples`` the exact number of
    waveform samples each item decodes to (a user duration need not be a whole frame).
    ``noise_mask`` (B or 1, T) float32, if set, says which frames ``sample(init=...)``
    regenerates: 1 = regenerate, 0 = keep, soft values blend (see ``editing.py``).
    """

    latent: torch.Tensor
    lengths: torch.Tensor
    num_samples: list[int]
    frame_rate: int
    sample_rate: int
    seeds: list[int] | None = None
    noise_mask: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.latent.shape[0])

    @property
    def durations_s(self) -> list[float]:
        return [n / self.sample_rate for n in self.num_samples]


def frames_for_duration(duration_s: float, frame_rate: int) -> int:
    """Latent frames for a user duration: round(duration_s * frame_rate), validated."""
    duration_s = SETTINGS.check_duration(duration_s, "duration_s")
    if duration_s is None:
        raise TypeError("duration_s must be a number of seconds, got None")
    frames = round(duration_s * frame_rate)
    if frames < 1:
        raise ValueError(
            f"duration {duration_s} s is shorter than one latent frame ({1 / frame_rate:g} s): "
            f"use at least {1 / frame_rate:g} s, or leave it unset for the predicted length"
        )
    return frames


def item_lengths(
    grid: TimeGrid,
    predicted: torch.Tensor,
    prompts: Sequence[str],
    duration_s: float | None,
    start: AudioLatent | None,
) -> tuple[torch.Tensor, list[int]]:
    """(frames (b,) int64, samples per item) of a sampler call: the init's, else ``duration_s``
    for every item, else each item's ``predicted`` frames (``prompts``: one per item)."""
    batch = len(prompts)
    if start is not None:
        return start.lengths.to(torch.int64), start.num_samples
    if duration_s is not None:
        frames = frames_for_duration(duration_s, grid.frame_rate)
        return torch.full((batch,), frames, dtype=torch.int64), [grid.samples(duration_s)] * batch
    lengths = predicted.to(torch.int64)
    bad = [p for p, n in zip(prompts, lengths.tolist(), strict=True) if n < 1]
    if bad:
        raise ValueError(
            f"the model predicted a duration of zero frames for {bad[0]!r}; set an explicit "
            "duration"
        )
    return lengths, [int(n) * grid.samples_per_frame for n in lengths.tolist()]


def init_per_item(
    init: AudioLatent, generator: DashengAudioGenerator, num_prompts: int, variations: int
) -> AudioLatent:
    """``init`` checked against the generator and repeated to one item per variation."""
    _check_init(init, generator, num_prompts)
    rows, frames = init.batch_size, init.latent.shape[-1]
    mask = init.noise_mask
    if mask is not None:
        mask = torch.as_tensor(mask, dtype=torch.float32)
        if mask.dim() != 2 or mask.shape[0] not in (1, rows) or mask.shape[1] != frames:
            raise ValueError(
                f"init.noise_mask must be (1 or {rows}, {frames}), got {tuple(mask.shape)}"
            )
        if not bool(((mask >= 0) & (mask <= 1)).all()):
            raise ValueError("init.noise_mask values must lie in [0, 1] (1 = regenerate)")
        mask = mask.expand(rows, frames)
    # Item p * variations + v is variation v of prompt p, like ConditioningTensors.expand.
    index = torch.arange(num_prompts).repeat_interleave(variations)
    if rows == 1:
        index = torch.zeros_like(index)
    return AudioLatent(
        latent=init.latent.float().index_select(0, index),
        lengths=init.lengths.to(torch.int64).index_select(0, index),
        num_samples=[init.num_samples[i] for i in index.tolist()],
        frame_rate=init.frame_rate,
        sample_rate=init.sample_rate,
        noise_mask=None if mask is None else mask.index_select(0, index),
    )


def _check_init(init: AudioLatent, generator: DashengAudioGenerator, num_prompts: int) -> None:
    if not isinstance(init, AudioLatent):
        raise TypeError(f"init must be an AudioLatent (encoded audio), got {type(init).__name__}")
    latent_dim = int(generator.latent_dim)
    if init.latent.dim() != 3 or init.latent.shape[1] != latent_dim:
        raise ValueError(
            f"init is a latent of another model size: shape {tuple(init.latent.shape)}, but "
            f"this generator's latents are (batch, {latent_dim}, frames); encode the audio "
            "with the audio tokenizer that belongs to this generator"
        )
    rates = (int(generator.frame_rate), int(generator.sample_rate))
    if (init.frame_rate, init.sample_rate) != rates:
        raise ValueError(
            f"init runs at {init.frame_rate} frames/s for {init.sample_rate} Hz audio, this "
            f"generator at {rates[0]} frames/s for {rates[1]} Hz"
        )
    rows, frames = init.batch_size, init.latent.shape[-1]
    if rows not in (1, num_prompts):
        raise ValueError(
            f"init has {rows} items for {num_prompts} prompts: give one init for all prompts "
            "or one per prompt"
        )
    if frames > frames_for_duration(SETTINGS.max_duration_s, init.frame_rate):
        raise ValueError(
            f"init lasts {frames / init.frame_rate:g} s, more than the "
            f"{SETTINGS.max_duration_s:g} s one run can make"
        )
