"""Blended prompts: several prompts, each heard over its own time range, mixed frame by frame.

A timed prompt holds from ``start_s`` to ``end_s`` (open: to the end of the clip) with a soft
edge of ``fade_s`` seconds inside the range (``timegrid.range_weights``) and a ``strength`` in
[0, 1]. Its raw weight on a frame is ``strength * range_weight``. At every sampling step the
sampler evaluates the DiT once per active prompt (all in one batched call) and mixes the
conditional velocities per frame with the blend weights below (``sampling/guidance.py``);
guidance is then applied to the mix, which equals classifier-free guidance per prompt followed
by the same mix, because the weights sum to 1 and the unconditional evaluation (zero context)
is the same for every prompt.

How raw weights become blend weights on one frame, with ``total`` the sum of the raw weights:

* ``total <= 1``: each prompt keeps its raw weight and the base prompt gets ``1 - total``.
  One prompt at strength 0.7 is 70% that prompt, 30% the base prompt.
* ``total > 1`` (overlapping ranges): the prompts share the frame in proportion to their raw
  weights (each divided by ``total``) and the base prompt gets 0. Two full-strength prompts
  that overlap are heard half and half.

So a frame outside every range (and past every fade) is exactly the base prompt (weight 1,
the others exactly 0), and a frame inside one full-strength range and outside the others is
exactly that prompt.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from .encoded import ConditioningTensors, TimedPrompt, TimedPromptTensors
from .timegrid import TimeGrid, range_weights
from .timeline import TimelineError, TimelineEvent

TIME_MODES = ("blend", "aligned")
DEFAULT_TIME_MODE = "blend"


def check_time_mode(mode: object, name: str = "time_mode") -> str:
    if mode not in TIME_MODES:
        raise ValueError(f"{name} must be one of {', '.join(TIME_MODES)}, got {mode!r}")
    return str(mode)


def event_weights(grid: TimeGrid, num_frames: int, events: Sequence[TimelineEvent]) -> torch.Tensor:
    """Raw weights (len(events), num_frames) float32: ``strength * range_weights`` per event.

    An open-ended event runs to the end of the clip. Errors name the event (and its line).
    """
    rows = []
    clip_s = num_frames / grid.frame_rate
    for event in events:
        end_s = clip_s if event.end_s is None else event.end_s
        if event.start_s >= clip_s:
            raise TimelineError(
                f"{event.where}the event {event.range_text} s starts at or after the end of the "
                f"{clip_s:g} s clip: move it earlier or make the clip longer"
            )
        try:
            weights = range_weights(grid, num_frames, event.start_s, end_s, event.fade_s)
        except ValueError as exc:
            raise TimelineError(f"{event.where}event {event.range_text} s: {exc}") from None
        rows.append(weights * event.strength)
    if not rows:
        return torch.zeros(0, num_frames, dtype=torch.float32)
    return torch.stack(rows)


def blend_weights(raw: torch.Tensor) -> torch.Tensor:
    """Blend weights (1 + k, ...) from raw weights (k, ...): row 0 the base prompt's.

    The rule of this module's docstring; every frame's weights sum to 1 (up to rounding),
    and weights that are exactly 0 or 1 stay exactly 0 or 1.
    """
    total = raw.sum(dim=0)
    prompts = raw / total.clamp(min=1.0)
    base = (1.0 - total).clamp(min=0.0)
    return torch.cat([base[None], prompts])


def with_blend_weights(
    tensors: ConditioningTensors,
    timed: Sequence[TimedPrompt],
    grid: TimeGrid,
    num_frames: int,
) -> ConditioningTensors:
    """``tensors`` with the timed prompts and their blend weights (b, 1 + k, num_frames), each
    item's from its own length (an open range ends where the item does)."""
    if tensors.time_aligned is not None:
        raise ValueError(
            "a time-aligned conditioning cannot also blend timed prompts: use one time mode"
        )
    events = [t.event for t in timed]
    by_length: dict[int, torch.Tensor] = {}
    rows = []
    for frames in tensors.latent_lengths.tolist():
        if frames not in by_length:
            raw = torch.nn.functional.pad(
                event_weights(grid, frames, events), (0, num_frames - frames)
            )
            by_length[frames] = blend_weights(raw)
        rows.append(by_length[frames])
    prompts = tuple(t.tensors for t in timed)
    return dataclasses.replace(tensors, timed=TimedPromptTensors(prompts, torch.stack(rows)))


def refuse_shaped(events: Sequence[TimelineEvent]) -> None:
    """Refuse fades and strengths below 1, which only the blend time mode uses."""
    shaped = [e for e in events if e.shaped]
    if shaped:
        raise TimelineError(
            f"{shaped[0].where}the event {shaped[0].range_text} s has a fade or a strength "
            "below 1, which only the blend time mode uses: drop them or use mode 'blend'"
        )
