"""A timeline of sound events: prompts placed in time, in seconds, and their latent frames.

A :class:`Timeline` holds events (start, end or open, tagged prompt) and an optional base
prompt that holds over the whole clip. It is plain data: the text format
(``timeline_text``) and the command line build one, the pipeline encodes it. Times are seconds
at the edges; :func:`event_frames` turns them into whole latent frames (0.04 s at 25 frames/s)
and checks that every event fits in the clip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .prompt import validate_prompt


class TimelineError(ValueError):
    """A timeline that cannot be laid out; the message names the event's line when known."""


@dataclass(frozen=True)
class TimelineEvent:
    """``prompt`` heard from ``start_s`` to ``end_s`` (``None``: to the end of the clip).

    ``fade_s`` (a soft edge inside the range) and ``strength`` (in [0, 1], how much of the
    base prompt it replaces) shape the event in the blend time mode (``blending.py``); the
    aligned mode lays content over whole frames and takes neither.
    """

    start_s: float
    end_s: float | None
    prompt: str
    line: int | None = None  # where the event was written, for messages
    fade_s: float = 0.0
    strength: float = 1.0

    def __post_init__(self) -> None:
        where = self.where
        if not _is_time(self.start_s) or self.start_s < 0:
            raise TimelineError(f"{where}start {self.start_s!r} must be a number of seconds >= 0")
        if self.end_s is not None:
            if not _is_time(self.end_s):
                raise TimelineError(f"{where}end {self.end_s!r} must be a number of seconds")
            if self.end_s <= self.start_s:
                raise TimelineError(
                    f"{where}the event ends ({self.end_s:g} s) before it starts "
                    f"({self.start_s:g} s): the end must come after the start"
                )
        if not _is_time(self.fade_s) or self.fade_s < 0:
            raise TimelineError(f"{where}fade {self.fade_s!r} must be a number of seconds >= 0")
        if self.end_s is not None and 2 * self.fade_s > self.end_s - self.start_s:
            raise TimelineError(
                f"{where}the fade ({self.fade_s:g} s) is longer than half the event "
                f"{self.range_text} s: shorten it to at most {(self.end_s - self.start_s) / 2:g} s"
            )
        if not _is_time(self.strength) or not 0.0 <= self.strength <= 1.0:
            raise TimelineError(f"{where}strength {self.strength!r} must be a number in [0, 1]")
        try:
            object.__setattr__(self, "prompt", validate_prompt(self.prompt))
        except (TypeError, ValueError) as exc:
            raise TimelineError(f"{where}{exc}") from None

    @property
    def where(self) -> str:
        """``"line N: "`` when the line is known, else ``""`` (a prefix for messages)."""
        return "" if self.line is None else f"line {self.line}: "

    @property
    def shaped(self) -> bool:
        """Whether the event has a fade or a strength below 1 (blend-mode settings)."""
        return self.fade_s > 0 or self.strength < 1

    @property
    def range_text(self) -> str:
        end = "" if self.end_s is None else f"{self.end_s:g}"
        return f"{self.start_s:g}-{end}"


@dataclass(frozen=True)
class Timeline:
    """Events in time plus an optional base prompt heard over the whole clip."""

    events: tuple[TimelineEvent, ...] = ()
    base: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", tuple(self.events))
        if not all(isinstance(e, TimelineEvent) for e in self.events):
            raise TypeError("a timeline's events must be TimelineEvent objects")
        if self.base is not None:
            object.__setattr__(self, "base", validate_prompt(self.base))
        if not self.events and self.base is None:
            raise TimelineError("the timeline is empty: give a base prompt or at least one event")

    def to_text(self) -> str:
        """The timeline in the text format of ``timeline_text`` (parses back to itself, except
        for fades and strengths, which the text format does not hold)."""
        lines = [] if self.base is None else [self.base]
        lines += [f"{e.range_text} {e.prompt}" for e in self.events]
        return "\n".join(lines)


def event_frames(
    timeline: Timeline,
    frame_rate: int,
    own_frames: Sequence[int],
    base_frames: int | None,
    clip_frames: int | None = None,
) -> tuple[int, list[tuple[int, int]]]:
    """The clip's length in frames and each event's frame range ``[start, end)``.

    ``own_frames[i]`` is how long the model's own timing of event ``i``'s words lasts and
    ``base_frames`` the base prompt's predicted length. The clip lasts ``clip_frames`` if
    given; else until the latest event ends (an open-ended event lasting its own timing); else,
    with no events, the base prompt's predicted length. Open-ended events then run to the end
    of the clip. Seconds become frames by rounding to the nearest frame.
    """
    if len(own_frames) != len(timeline.events):
        raise ValueError(f"{len(own_frames)} timings for {len(timeline.events)} events")
    starts = [round(e.start_s * frame_rate) for e in timeline.events]
    if clip_frames is None:
        ends = [
            round(e.end_s * frame_rate) if e.end_s is not None else start + int(own)
            for e, start, own in zip(timeline.events, starts, own_frames, strict=True)
        ]
        clip_frames = max(ends) if ends else base_frames
        if clip_frames is None:
            raise TimelineError("a timeline without events needs a base prompt")
    if clip_frames < 1:
        raise TimelineError(
            f"the clip would be {clip_frames} frames long: give a duration of at least "
            f"{1 / frame_rate:g} s"
        )
    clip_s = clip_frames / frame_rate
    spans = []
    for event, start in zip(timeline.events, starts, strict=True):
        end = clip_frames if event.end_s is None else round(event.end_s * frame_rate)
        if start >= clip_frames:
            raise TimelineError(
                f"{event.where}the event {event.range_text} s starts at or after the end of "
                f"the {clip_s:g} s clip: move it earlier or make the clip longer"
            )
        if end > clip_frames:
            raise TimelineError(
                f"{event.where}the event {event.range_text} s ends after the {clip_s:g} s "
                "clip: end it earlier or make the clip longer"
            )
        if end <= start:
            raise TimelineError(
                f"{event.where}the event {event.range_text} s is shorter than one latent "
                f"frame ({1 / frame_rate:g} s): make it longer"
            )
        spans.append((start, end))
    return clip_frames, spans


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
