"""Long soundtracks: which frames each sampler call covers.

A clip longer than one window is generated window by window. Each window after the first
starts ``overlap`` frames before the previous one ended and keeps those frames as known
context through the noise mask (:func:`context_mask`), so the scene continues across the
boundary instead of restarting.
Only the window's frames are ever sampled at once, so memory follows the window, not the clip.

Defaults: a 20 s window stays well inside what the backbone is laid out for
(``dit_img_size`` 1000 frames = 40 s) while covering twice the 10 s clips the common
text-to-audio benchmarks use; the model's own predicted durations stay below it, so ordinary
generations are one window as before. A 4 s overlap gives the model several seconds of the
scene to continue (a bar of music, a sentence of speech) for 25% more frames sampled
(20 / 16) than generating without context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .timegrid import TimeGrid


@dataclass(frozen=True)
class Window:
    """Frames [start, stop) of the clip; the first ``known`` come from the previous window."""

    start: int
    stop: int
    known: int


def context_mask(known: int) -> torch.Tensor:
    """Noise mask (known,) over a window's overlap with the previous window.

    The first half is kept exactly (0): the context the window continues. The second half
    ramps linearly towards 1 (frame k of F weighs (k + 1) / (F + 1)): the previous window's
    last frames are edge frames of its own generation (they see no frames after them) and
    stand out from the frames before them, so the new window, which sees them from both sides,
    blends in over them instead of butting against them.
    """
    mask = torch.zeros(known, dtype=torch.float32)
    ramp = known - known // 2
    mask[known // 2 :] = torch.arange(1, ramp + 1, dtype=torch.float32) / (ramp + 1)
    return mask


def window_frames(grid: TimeGrid, window_s: float, overlap_s: float) -> tuple[int, int]:
    """(window, overlap) in frames, checked: a window must add at least one new frame."""
    for name, value in (("window_s", window_s), ("overlap_s", overlap_s)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number of seconds, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0 seconds (or None for one pass), got {window_s:g}")
    if overlap_s < 0:
        raise ValueError(f"overlap_s must be >= 0 seconds, got {overlap_s:g}")
    window, overlap = grid.frames(window_s), grid.frames(overlap_s)
    if overlap_s >= window_s or window - overlap < 1:
        raise ValueError(
            f"overlap_s {overlap_s:g} must be shorter than window_s {window_s:g} by at least "
            f"one latent frame ({1 / grid.frame_rate:g} s)"
        )
    return window, overlap


def plan_windows(total: int, window: int | None, overlap: int) -> list[Window]:
    """Windows covering frames [0, total): one if it fits (or ``window`` is None), else a chain
    where each window starts ``overlap`` frames before the previous one's end. The last
    window is shorter when the clip ends inside it."""
    if total < 1:
        raise ValueError(f"nothing to plan: {total} frames")
    if window is None or total <= window:
        return [Window(0, total, 0)]
    windows = [Window(0, window, 0)]
    while windows[-1].stop < total:
        start = windows[-1].stop - overlap
        windows.append(Window(start, min(start + window, total), overlap))
    return windows
