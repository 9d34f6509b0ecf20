"""Long soundtracks: which frames each sampler call covers, and sampling them in turn.

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

import dataclasses
import math
from dataclasses import dataclass

import torch

from ..conditioning.encoded import ConditioningTensors, TimedPromptTensors
from ..conditioning.timegrid import TimeGrid
from ..models.generator import DashengAudioGenerator
from .euler import ProgressCallback
from .latent import AudioLatent
from .sampler import sample
from .schedules import denoise_schedule, evaluated_steps


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


@dataclass(frozen=True)
class _WindowJob:
    """One sampler call: a window, the items that have frames to make in it, their mask."""

    window: Window
    items: torch.Tensor  # 1-D int64
    noise_mask: torch.Tensor | None  # (len(items), window frames), None = regenerate all


def sample_windows(
    generator: DashengAudioGenerator,
    cond: ConditioningTensors,
    noise: torch.Tensor,
    start: AudioLatent | None,
    windows: list[Window],
    settings: dict,
    denoise: float,
    callback: ProgressCallback | None,
) -> torch.Tensor:
    """One :func:`sampler.sample` call per window, into one latent.

    A window's init is the latent so far: the caller's init, with the frames of earlier
    windows already written in. Its first ``known`` frames get the context mask (the first
    half kept exactly, the second half blended in), so the window is generated to continue
    them. Items without new frames in a window sit it out, and a window with nothing to
    regenerate (mask 0 throughout) is not sampled: its result would be its init, exactly.
    ``settings`` holds the sampler's steps, guidance and sway.
    """
    lengths = [int(n) for n in cond.latent_lengths.tolist()]
    result = torch.zeros_like(noise) if start is None else start.latent.clone()
    mask = None if start is None else start.noise_mask
    jobs = [job for window in windows if (job := _window_job(window, lengths, mask)) is not None]
    schedule = denoise_schedule(settings["steps"], settings["sway"], denoise)
    per_window = len(evaluated_steps(schedule))
    total_steps = per_window * len(jobs)
    for n, job in enumerate(jobs):
        window, index = job.window, job.items
        span = slice(window.start, window.stop)
        step_callback = None
        if callback is not None:

            def step_callback(step, _total, base=n * per_window):
                callback(base + step, total_steps)

        fresh = start is None and not window.known
        out = sample(
            generator,
            _window_conditioning(cond.index_select(index), window).to(generator.device),
            noise[index, :, span].to(generator.device),
            callback=step_callback,
            init=None if fresh else result[index, :, span],
            noise_mask=job.noise_mask,
            denoise=denoise,
            **settings,
        )
        result[index, :, span] = out.float().cpu()
    return result


def _window_job(window: Window, lengths: list[int], mask: torch.Tensor | None) -> _WindowJob | None:
    """The items to sample in ``window`` and their noise mask; None when there are none."""
    items = [i for i in range(len(lengths)) if lengths[i] > window.start + window.known]
    window_mask = None
    if mask is not None or window.known:
        window_mask = (
            torch.ones(len(items), window.stop - window.start)
            if mask is None
            else mask[items, window.start : window.stop].clone()
        )
        window_mask[:, : window.known] = torch.minimum(
            window_mask[:, : window.known], context_mask(window.known)
        )
        valid = [window_mask[j, : lengths[i] - window.start] for j, i in enumerate(items)]
        items = [i for i, row in zip(items, valid, strict=True) if bool(row.any())]
        window_mask = window_mask[[j for j, row in enumerate(valid) if bool(row.any())]]
        if bool((window_mask == 1).all()):
            window_mask = None  # regenerate everything: no frames to keep
    if not items:
        return None
    return _WindowJob(window, torch.tensor(items), window_mask)


def _window_conditioning(local: ConditioningTensors, window: Window) -> ConditioningTensors:
    """The items' conditioning over the window's frames.

    A time-aligned layout and blend weights are per frame: each window takes its own frames of
    them (timed prompts hold in absolute seconds of the clip).
    """
    span = slice(window.start, window.stop)
    timed = local.timed
    if timed is not None:
        timed = TimedPromptTensors(timed.prompts, timed.weights[:, :, span])
    return dataclasses.replace(
        local,
        latent_lengths=(local.latent_lengths - window.start).clamp(max=span.stop - span.start),
        time_aligned=None if local.time_aligned is None else local.time_aligned[:, span],
        timed=timed,
    )
