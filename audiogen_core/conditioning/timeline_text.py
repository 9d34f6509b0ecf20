"""The timeline text format: one sound event a line, typed by hand or written by a script.

::

    # rain all along, a door at 2 s, a narrator from 3 s to the end
    env: steady rain on a tin roof
    2.0-3.0 sfx: a heavy door slams
    3- speech: calm male narrator
    3- asr: It was a night like any other.

A line is ``[TIMES] BODY``; docs/timeline.md ("The timeline text format") is the full
definition. In short: ``TIMES`` is ``START-END`` or ``START-`` (open: to the end of the clip)
in seconds (``2``, ``2.5``, ``2.5s``, ``1:02.5``); ``BODY`` is ``VIEW: text`` with a view of
``prompt.VIEWS``, a tagged prompt (``<|caption|> ...``), or plain text (the caption). Lines with
the same times are one event, lines without times the base prompt; an event or base without a
caption takes the text of its first line as caption. ``#`` starts a comment at the start of a
line or after a space. Every problem is reported at once, each with its line number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .prompt import TAGS, VIEWS, compose_views, validate_prompt
from .timeline import Timeline, TimelineError, TimelineEvent

_TIME = r"(?:\d+:)?(?:\d+(?:\.\d*)?|\.\d+)s?"
_RANGE = re.compile(rf"(?P<start>{_TIME})\s*[-\u2013\u2014]\s*(?P<end>{_TIME})?(?=\s|$)")
_VIEW = re.compile(r"(?P<view>[A-Za-z]+)\s*:(?P<text>.*)", re.DOTALL)
_COMMENT = re.compile(r"(?:^|\s)#.*$")
_LOOKS_TIMED = re.compile(r"[\d.+\-\u2013\u2014]")
# A view label after other text ("abc-7 music: piano"): mistyped times, or a label out of place.
_LATE_VIEW = re.compile(rf"(?<![\w-])(?P<view>{'|'.join(VIEWS)})\s*:", re.IGNORECASE)
_VIEW_LIST = ", ".join(VIEWS)


class TimelineSyntaxError(TimelineError):
    """Every problem of a timeline text; ``errors`` lists them as (line number, message)."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        count = "1 problem" if len(errors) == 1 else f"{len(errors)} problems"
        lines = "\n".join(f"line {n}: {message}" for n, message in errors)
        super().__init__(f"{count} in the timeline text:\n{lines}")


@dataclass
class _Entry:
    """The lines of one event (or of the base prompt) gathered before composing."""

    first_line: int
    views: dict[str, tuple[int, str]] = field(default_factory=dict)
    tagged: tuple[int, str] | None = None


def parse_timeline(text: str) -> Timeline:
    """Read the timeline text format into a :class:`Timeline`.

    Raises :class:`TimelineSyntaxError` listing every bad line (all at once, numbered from 1).
    """
    if not isinstance(text, str):
        raise TypeError(f"the timeline text must be a string, got {type(text).__name__}")
    errors: list[tuple[int, str]] = []
    base: _Entry | None = None
    events: dict[tuple[float, float | None], _Entry] = {}
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        try:
            times, body = _split_times(line)
            view, text = _read_body(body)
            if times is None:
                base = base or _Entry(number)
                entry = base
            else:
                entry = events.setdefault(times, _Entry(number))
            _add(entry, number, view, text, "the base prompt" if times is None else "this event")
        except ValueError as exc:
            errors.append((number, str(exc)))

    composed_base = None
    if base is not None:
        composed_base = _compose(base, errors)
    timed = []
    for (start, end), entry in events.items():
        prompt = _compose(entry, errors)
        if prompt is None:
            continue
        try:
            timed.append(TimelineEvent(start, end, prompt, line=entry.first_line))
        except TimelineError as exc:
            errors.append((entry.first_line, str(exc).removeprefix(f"line {entry.first_line}: ")))
    if errors:
        raise TimelineSyntaxError(sorted(errors))
    if not timed and composed_base is None:
        raise TimelineError(
            "the timeline text has no events and no base line: write at least one line such "
            "as '2.0-3.0 sfx: a heavy door slams'"
        )
    timed.sort(key=lambda e: (e.start_s, e.line))
    return Timeline(tuple(timed), composed_base)


def _split_times(line: str) -> tuple[tuple[float, float | None] | None, str]:
    if not _LOOKS_TIMED.match(line):
        return None, line
    match = _RANGE.match(line)
    if match is None:
        raise ValueError(
            f"cannot read the times in {line[:40]!r}: write START-END or START- in seconds "
            "(e.g. '2.0-3.5 sfx: ...', '3- speech: ...', '1:02.5-1:04 ...'); a caption that "
            "starts with a number is written 'caption: ...'"
        )
    start = _seconds(match["start"])
    end = None if match["end"] is None else _seconds(match["end"])
    body = line[match.end() :].strip()
    if not body:
        raise ValueError(f"the event {match.group(0).strip()} has no text: add 'VIEW: text'")
    return (start, end), body


def _seconds(text: str) -> float:
    minutes, _, seconds = text.removesuffix("s").rpartition(":")
    return (int(minutes) * 60 if minutes else 0) + float(seconds)


def _read_body(body: str) -> tuple[str | None, str]:
    """(view, text) of a line's body; view None for a whole tagged prompt."""
    if body.startswith("<|"):
        return None, validate_prompt(body)
    view, text = "caption", body
    match = _VIEW.fullmatch(body)
    late = None if match else _LATE_VIEW.search(body)
    if late:
        before = body[: late.start()].strip()
        raise ValueError(
            f"the view label '{late['view']}:' is not at the start of the line (after "
            f"{before[:40]!r}): write the times as START-END first, then the view (e.g. "
            f"'2.0-3.0 {late['view'].lower()}: ...'); for a caption that contains "
            f"'{late['view']}:', start the line with 'caption:'"
        )
    if match:
        view = match["view"].lower()
        text = match["text"].strip()
        if view not in TAGS:
            raise ValueError(
                f"unknown view {match['view']!r}: use one of {_VIEW_LIST} (to write a colon "
                f"in the text, start the line with 'caption:')"
            )
    if not text:
        raise ValueError(f"the {view} line has no text after the colon")
    if "<|" in text or "|>" in text:
        raise ValueError(
            f"the {view} text contains a tag ({text[:40]!r}): tags are added for you, so write "
            "each view on its own line ('music: ...'), or the whole body as one tagged prompt "
            "starting with <|caption|>"
        )
    return view, text


def _add(entry: _Entry, number: int, view: str | None, text: str, what: str) -> None:
    if entry.tagged:
        raise ValueError(
            f"{what} is already a whole tagged prompt (line {entry.tagged[0]}): put this line's "
            "view in it"
        )
    if view is None:
        if entry.views:
            first = min(n for n, _ in entry.views.values())
            raise ValueError(
                f"a tagged prompt must be the only line of {what}, which already has text "
                f"(line {first}): put all its views in the one tagged prompt"
            )
        entry.tagged = (number, text)
    elif view in entry.views:
        raise ValueError(
            f"{what} already has a {view} line (line {entry.views[view][0]}): merge the two "
            "into one line"
        )
    else:
        entry.views[view] = (number, text)


def _compose(entry: _Entry, errors: list[tuple[int, str]]) -> str | None:
    """The entry's tagged prompt, or None when its lines had errors (already reported)."""
    if entry.tagged:
        return entry.tagged[1]
    if not entry.views:
        return None
    texts = {view: text for view, (_, text) in entry.views.items()}
    if "caption" not in texts:
        first = min(entry.views.values())
        texts["caption"] = first[1]
    try:
        return compose_views(**texts)
    except ValueError as exc:
        number = min(n for n, _ in entry.views.values())
        errors.append((number, str(exc)))
        return None
