"""``generate --event``, ``--timeline`` and ``--time-mode``: sound placed in time from the command
line.

``--event START:END[:FADE[:STRENGTH]]:PROMPT`` (repeatable) holds PROMPT from START to END
seconds; END empty (``3.0::...``) runs to the end of the clip. The optional FADE (seconds, a
soft edge inside the range) and STRENGTH (0 to 1, how much of the base prompt it replaces)
are for the blend time mode. PROMPT is a tagged prompt (``<|caption|> ...``; one that starts
with another view, ``<|sfx|> a door slams``, takes that view's text as its caption) or plain
caption text. ``--timeline FILE`` reads the timeline text format (``timeline_text``). The
generate prompt (``--caption``/``--prompt``) is the base prompt, heard wherever no event is.

Every problem is raised as a ValueError naming the flag, before any model is loaded.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from ..conditioning.blending import DEFAULT_TIME_MODE, TIME_MODES
from ..conditioning.prompt import compose_views, validate_prompt
from ..conditioning.timeline import Timeline, TimelineError, TimelineEvent
from ..conditioning.timeline_text import parse_timeline

EVENT_FORMAT = "START:END[:FADE[:STRENGTH]]:PROMPT"
_EXAMPLE = "e.g. --event '2.0:3.0:<|sfx|> a heavy door slams' or --event '3.0::0.5:rain'"
_FIRST_VIEW = re.compile(r"<\|(?P<view>[a-z]+)\|>(?P<text>[^<]*)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "sound on a timeline",
        "Events hold their own prompt over a time range, the generate prompt filling the "
        "rest. The blend mode costs one extra DiT evaluation per event per sampling step.",
    )
    group.add_argument(
        "--event",
        action="append",
        default=[],
        metavar=EVENT_FORMAT,
        help="hold PROMPT from START to END seconds (END empty: to the end), optionally with "
        "a FADE in seconds and a STRENGTH in [0, 1] (blend mode); repeatable. " + _EXAMPLE,
    )
    group.add_argument(
        "--timeline",
        type=Path,
        default=None,
        metavar="FILE",
        help="read events (and the base prompt, from lines without times) from a timeline text "
        "file: one event a line, e.g. '2.0-3.0 sfx: a heavy door slams'",
    )
    group.add_argument(
        "--time-mode",
        default=DEFAULT_TIME_MODE,
        choices=TIME_MODES,
        help="blend (default): each event's prompt is blended in over its range, any content; "
        "aligned: the model's time-aligned path, content laid over the frames (without events: "
        "the prompt follows the model's own per-token timing)",
    )


def parse_event(text: str, flag: str = "--event") -> TimelineEvent:
    """One ``--event`` value as a :class:`TimelineEvent`; errors name the flag and the value."""
    where = f"{flag} {text!r}"
    fields: list[str] = []
    rest = text
    while len(fields) < 4:
        head, sep, tail = rest.partition(":")
        # START and END are always there; FADE and STRENGTH only when they read as numbers.
        if len(fields) >= 2 and not _is_number(head):
            break
        if not sep:
            raise ValueError(f"{where}: expected {EVENT_FORMAT}, {_EXAMPLE}")
        fields.append(head.strip())
        rest = tail
    start = _number(fields[0], "START", where)
    end = None if fields[1] == "" else _number(fields[1], "END", where)
    fade = _number(fields[2], "FADE", where) if len(fields) > 2 else 0.0
    strength = _number(fields[3], "STRENGTH", where) if len(fields) > 3 else 1.0
    try:
        return TimelineEvent(
            start, end, _event_prompt(rest.strip(), where), fade_s=fade, strength=strength
        )
    except TimelineError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(text: str, name: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"{where}: {name} must be a number of seconds, got {text!r} ({EVENT_FORMAT})"
        ) from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be a finite number, got {text!r}")
    return value


def _event_prompt(text: str, where: str) -> str:
    if not text:
        raise ValueError(f"{where}: the event has no prompt after the times ({EVENT_FORMAT})")
    try:
        if not text.startswith("<|"):
            return compose_views(caption=text)
        first = _FIRST_VIEW.match(text)
        if first and first["view"] != "caption" and first["text"].strip():
            text = f"<|caption|> {first['text'].strip()} {text}"
        return validate_prompt(text)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def timeline_from_args(args: argparse.Namespace, base: str | None) -> Timeline | None:
    """The timeline of ``--event`` and ``--timeline`` with ``base`` (the generate prompt), or
    None when neither flag is given. Checked against ``--time-mode``, ``--duration`` and
    ``--init-audio`` as far as possible before the models load."""
    if args.time_mode == "aligned" and args.init_audio is not None:
        raise ValueError(
            "--time-mode aligned does not go with --init-audio: the aligned layout sets the "
            "clip's length; edit a range with a timed prompt (--event) in the blend mode"
        )
    events = [parse_event(text) for text in args.event]
    file_base = None
    if args.timeline is not None:
        parsed = _read_timeline(args.timeline)
        events += parsed.events
        file_base = parsed.base
    if not events and args.timeline is None:
        return None
    if base is not None and file_base is not None:
        raise ValueError(
            f"--timeline {args.timeline} has a base prompt (lines without times) and the "
            "generate prompt (--caption/--prompt) is another: give one of them"
        )
    base = base if base is not None else file_base
    if args.time_mode == "blend" and base is None:
        raise ValueError(
            "the blend time mode needs a base prompt, heard wherever no event is: give "
            "--caption (or --prompt), a line without times in --timeline, or --time-mode aligned"
        )
    if args.time_mode == "aligned":
        shaped = [e for e in events if e.shaped]
        if shaped:
            raise ValueError(
                f"--event {shaped[0].range_text}: FADE and STRENGTH are blend-mode settings; "
                "drop them or use --time-mode blend"
            )
    if args.duration is not None:
        for event in events:
            _check_fits(event, args.duration, "--duration")
    return Timeline(tuple(sorted(events, key=lambda e: e.start_s)), base)


def check_events_fit(timeline: Timeline | None, clip_s: float, flag: str) -> None:
    """Refuse events that start or end outside a clip of ``clip_s`` seconds."""
    for event in () if timeline is None else timeline.events:
        _check_fits(event, clip_s, flag)


def _check_fits(event: TimelineEvent, clip_s: float, flag: str) -> None:
    end = clip_s if event.end_s is None else event.end_s
    if event.start_s >= clip_s or end > clip_s:
        raise ValueError(
            f"{event.where}the event {event.range_text} s does not fit in the {clip_s:g} s clip "
            f"of {flag}: move it or make the clip longer"
        )


def _read_timeline(path: Path) -> Timeline:
    if not path.is_file():
        raise ValueError(f"--timeline {path} does not exist (or is not a file)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"--timeline {path} is not UTF-8 text: {exc.reason}") from None
    try:
        return parse_timeline(text)
    except TimelineError as exc:
        raise ValueError(f"--timeline {path}: {exc}") from None
