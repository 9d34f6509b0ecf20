"""Prompts held over time ranges, in the two time modes (``blending.TIME_MODES``).

``blend``: each event's prompt is encoded alone and kept as a timed prompt; the sampler blends
its velocity in over the event's range (``sampling/guidance.py``). ``aligned``: each event's
content is laid over its range on the model's time-aligned path (``alignment.py``).

Encoding a prompt needs the text encoder and the generator, which only the pipeline holds, so
the functions here take an ``encode`` callable (prompts -> :class:`Conditioning`). Lengths
arrive in frames, already checked against the settings at the pipeline's edge.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch

from .alignment import aligned_timeline
from .blending import refuse_shaped
from .encoded import Conditioning, ConditioningTensors, TimedPrompt, concat_conditionings
from .timeline import Timeline, TimelineError, TimelineEvent, event_frames

Encode = Callable[[str | Sequence[str]], Conditioning]


def add_timed_prompts(
    cond: Conditioning, events: TimelineEvent | Sequence[TimelineEvent], encode: Encode
) -> Conditioning:
    """``cond`` with ``events`` added as timed prompts (blend time mode), each encoded alone."""
    if cond.tensors.time_aligned is not None:
        raise ValueError(
            "this conditioning is time-aligned (aligned mode); timed prompts blend into a "
            "text-to-audio conditioning: use one time mode"
        )
    events = [events] if isinstance(events, TimelineEvent) else list(events)
    if not all(isinstance(e, TimelineEvent) for e in events):
        raise TypeError("events must be TimelineEvent objects (audiogen_core.TimelineEvent)")
    added = []
    for event in events:
        encoded = encode(event.prompt)
        added.append(TimedPrompt(event, encoded.tensors, encoded.token_counts[0]))
    return dataclasses.replace(cond, timed=(*cond.timed, *added))


def encode_timeline(
    generator,
    timeline: Timeline,
    mode: str,
    clip_frames: int | None,
    max_duration_s: float,
    encode: Encode,
) -> Conditioning:
    """One clip of ``timeline`` in time ``mode`` (see ``AudioGenPipeline.encode_timeline``)."""
    if mode == "blend":
        return _encode_blend(generator, timeline, clip_frames, max_duration_s, encode)
    refuse_shaped(timeline.events)
    prompts = [e.prompt for e in timeline.events]
    events = encode(prompts) if prompts else None
    base = None if timeline.base is None else encode(timeline.base)
    return _lay_out(
        generator,
        timeline,
        None if events is None else events.tensors,
        [] if events is None else events.token_counts,
        base,
        clip_frames,
        max_duration_s,
    )


def lay_out_timed_prompts(
    generator, cond: Conditioning, clip_frames: int | None, max_duration_s: float
) -> Conditioning:
    """``cond``'s timed prompts laid over their ranges on the time-aligned path, its own
    prompt heard over the whole clip (the aligned mode of a chain of timed prompts)."""
    if cond.batch_size != 1:
        raise ValueError(
            f"the aligned time mode lays timed prompts over one base prompt, but this "
            f"conditioning holds {cond.batch_size}: encode one prompt, or use the blend mode"
        )
    events = tuple(t.event for t in cond.timed)
    refuse_shaped(events)
    rows = concat_conditionings([t.tensors.to(generator.device) for t in cond.timed])
    base = dataclasses.replace(cond, timed=())
    timeline = Timeline(events, cond.prompts[0])
    counts = [t.token_count for t in cond.timed]
    return _lay_out(generator, timeline, rows, counts, base, clip_frames, max_duration_s)


def timeline_frames(
    timeline: Timeline,
    frame_rate: int,
    own: list[int],
    base_frames: int | None,
    clip_frames: int | None,
    max_duration_s: float,
) -> tuple[int, list[tuple[int, int]]]:
    """The clip's frames and each event's span (``timeline.event_frames``), within the limit."""
    clip_frames, spans = event_frames(timeline, frame_rate, own, base_frames, clip_frames)
    if clip_frames / frame_rate > max_duration_s:
        raise TimelineError(
            f"the timeline lasts {clip_frames / frame_rate:g} s, longer than the "
            f"{max_duration_s:g} s limit: shorten it or give a duration"
        )
    return clip_frames, spans


def _lay_out(
    generator,
    timeline: Timeline,
    events: ConditioningTensors | None,
    event_token_counts: list[int],
    base: Conditioning | None,
    clip_frames: int | None,
    max_duration_s: float,
) -> Conditioning:
    """The aligned timeline of ``events`` (one row per event of ``timeline``) over ``base``."""
    own = [] if events is None else events.local_frames.sum(dim=1).long().tolist()
    base_frames = None if base is None else base.predicted_frames[0]
    frame_rate = int(generator.frame_rate)
    clip_frames, spans = timeline_frames(
        timeline, frame_rate, own, base_frames, clip_frames, max_duration_s
    )
    return aligned_timeline(
        generator, timeline, events, event_token_counts, base, clip_frames, spans
    )


def _encode_blend(
    generator,
    timeline: Timeline,
    clip_frames: int | None,
    max_duration_s: float,
    encode: Encode,
) -> Conditioning:
    if timeline.base is None:
        raise TimelineError(
            "the blend time mode needs a base prompt, heard wherever no event is: add a "
            "line without times (or a caption), or use the aligned time mode"
        )
    cond = add_timed_prompts(encode(timeline.base), timeline.events, encode)
    own = [t.tensors.latent_lengths[0].item() for t in cond.timed]
    clip_frames, _ = timeline_frames(
        timeline,
        int(generator.frame_rate),
        own,
        cond.predicted_frames[0],
        clip_frames,
        max_duration_s,
    )
    tensors = dataclasses.replace(cond.tensors, latent_lengths=torch.tensor([clip_frames]))
    return dataclasses.replace(cond, tensors=tensors)
