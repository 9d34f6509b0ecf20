"""Seconds at the edges, frames inside: the latent's time grid and exact sample counts.

Latent audio has one frame per 1/frame_rate seconds (0.04 s officially) and decodes to
sample_rate / frame_rate samples per frame (640). Times a user gives in seconds become frames
by rounding to the nearest frame; lengths in samples are rounded to the nearest sample, so a
duration is met exactly even when it is not a whole number of frames. Ranges with fades
become per-frame weights in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TimeGrid:
    """The frame and sample rates of one latent space (25 and 16000 officially)."""

    frame_rate: int
    sample_rate: int

    @property
    def samples_per_frame(self) -> int:
        return self.sample_rate // self.frame_rate

    def frames(self, seconds: float) -> int:
        """The nearest whole number of frames (round half to even)."""
        return round(seconds * self.frame_rate)

    def samples(self, seconds: float) -> int:
        """The nearest whole number of samples (round half to even)."""
        return round(seconds * self.sample_rate)

    def frames_covering(self, num_samples: int) -> int:
        """The fewest frames whose decoded audio holds ``num_samples`` samples."""
        return -(-num_samples // self.samples_per_frame)


def _seconds(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}")
    return float(value)


def range_weights(
    grid: TimeGrid,
    num_frames: int,
    start_s: float,
    end_s: float,
    fade_s: float = 0.0,
) -> torch.Tensor:
    """Per-frame weights (num_frames,) float32: 1 inside [start_s, end_s), 0 outside.

    The range snaps to the frame grid (its ends are rounded to the nearest frame). A fade puts
    a linear ramp of round(fade_s * frame_rate) frames inside the range at each end that
    borders the rest of the clip, so weights outside the range stay exactly 0 and the ramp
    never reaches 0 or 1 (frame k of an F-frame ramp weighs (k + 1) / (F + 1)). An end at the
    clip's first or last frame gets no ramp: there is nothing to blend into.
    """
    start_s = _seconds(start_s, "start_s")
    end_s = _seconds(end_s, "end_s")
    fade_s = _seconds(fade_s, "fade_s")
    clip_s = num_frames / grid.frame_rate
    if start_s >= end_s:
        raise ValueError(f"start_s {start_s:g} must be before end_s {end_s:g}")
    first, stop = grid.frames(start_s), grid.frames(end_s)
    if start_s < 0 or stop > num_frames:
        raise ValueError(
            f"range {start_s:g}-{end_s:g} s lies outside the clip, which is {clip_s:.2f} s "
            f"long: use start_s >= 0 and end_s <= {clip_s:.2f}"
        )
    if stop <= first:
        raise ValueError(
            f"range {start_s:g}-{end_s:g} s is shorter than one latent frame "
            f"({1 / grid.frame_rate:g} s) once on the frame grid: widen it"
        )
    if fade_s < 0 or 2 * fade_s > end_s - start_s:
        raise ValueError(
            f"fade_s {fade_s:g} must be between 0 and half the range ({(end_s - start_s) / 2:g} s)"
        )
    weights = torch.zeros(num_frames, dtype=torch.float32)
    weights[first:stop] = 1.0
    fade = min(grid.frames(fade_s), (stop - first) // 2)
    if fade:
        ramp = torch.arange(1, fade + 1, dtype=torch.float32) / (fade + 1)
        if first > 0:
            weights[first : first + fade] = ramp
        if stop < num_frames:
            weights[stop - fade : stop] = ramp.flip(0)
    return weights
