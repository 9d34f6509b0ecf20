"""What a node shows on the page: its info lines and the takes its player offers.

The frontend extension (web/audiogen.js) writes a node's ``ui["text"]`` into the node's info
box and builds a player from ``ui[TAKES]``: one entry per take (batch item), each a temp FLAC
with a label naming the take, its seed and its length. The lines are prepared here so that
what the user reads is tested with the nodes.
"""

from __future__ import annotations

import re

from comfy_api.latest import ui

from audiogen_core.conditioning.prompt import VIEWS, parse_prompt
from audiogen_core.conditioning.timeline import TimelineEvent

TAKES = "audiogen_takes"  # the ui key of the take player (not ComfyUI's "audio")
SHOWN_CHARS = 40  # of each view's text: enough to recognise it, short enough for one line


def _short(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1].rstrip() + "…"


def prompt_views(prompt: str) -> str:
    """The views of a tagged prompt as one line: ``sfx "a door slams", env "rain"``.

    The caption is left out when it repeats another view's text (a timeline line without a
    caption takes its first view's text as caption), so the line shows what was written.
    """
    views = parse_prompt(prompt).as_dict()
    others = [(view, views[view]) for view in VIEWS[1:] if views[view]]
    shown = (
        [] if views["caption"] in {text for _, text in others} else [("caption", views["caption"])]
    )
    return ", ".join(f'{view} "{_short(text)}"' for view, text in shown + others)


def event_line(event: TimelineEvent) -> str:
    """``2-3 s: sfx "a door slams"``, with fade and strength when they are set."""
    when = f"{event.start_s:g} s to the end" if event.end_s is None else f"{event.range_text} s"
    if event.fade_s:
        when += f", fade {event.fade_s:g} s"
    if event.strength < 1:
        when += f", strength {event.strength:g}"
    return f"{when}: {prompt_views(event.prompt)}"


def timeline_lines(
    events: list[TimelineEvent], base: str | None, seconds: float, mode: str
) -> list[str]:
    """Timeline From Text's report: the count, length and mode, then the base and each event."""
    count = f"{len(events)} event{'' if len(events) == 1 else 's'}"
    lines = [f"{count}, {seconds:.2f} s, {mode} mode"]
    if base is not None:
        lines.append(f"whole clip: {prompt_views(base)}")
    return lines + [event_line(e) for e in events]


_TIMES_INSIDE = re.compile(r"\d+(?:\.\d+)?\s*s?\s*[-\u2013\u2014]\s*(?:\d|\s|$)")
_VIEW_INSIDE = re.compile(rf"\b(?:{'|'.join(VIEWS)})\s*:", re.IGNORECASE)
_COMMENT = re.compile(r"(?:^|\s)#.*$")


def caption_line_warnings(text: str) -> list[str]:
    """Lines of a timeline text read as plain caption text of the whole clip although they hold
    times or a ``view:`` later on, the likely sign of a mistyped event line."""
    warnings = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw).strip()
        plain = line and not line[0].isdigit() and not line.startswith(("<|", ".", "-"))
        if not plain or re.match(r"[A-Za-z]+\s*:", line):
            continue  # a timed line, a tagged prompt or a "view:" line: read as written
        if _TIMES_INSIDE.search(line) or _VIEW_INSIDE.search(line):
            warnings.append(
                f'check line {number}: read as caption text of the whole clip ("{_short(line)}"); '
                "an event line starts with its times: 2.0-3.0 sfx: ..."
            )
    return warnings


def timed_prompt_lines(events: list[TimelineEvent]) -> list[str]:
    """Timed Prompt's report: every timed prompt of the chain, the one this node adds last."""
    count = f"{len(events)} timed prompt{'' if len(events) == 1 else 's'} over the base sound"
    lines = [count] + [event_line(e) for e in events]
    lines[-1] += " (this node)"
    return lines


def cuts_lines(times: list[str], shots: list[str], frames: int, rate: float) -> list[str]:
    """Cuts From Video's report: the cut times, the video they were found in, and the shots."""
    video = f"{frames} frames at {rate:g} fps = {frames / rate:.2f} s"
    if not times:
        return [f"no cut found in {video}", "lower threshold to find softer cuts"]
    count = f"{len(times)} cut{'' if len(times) == 1 else 's'}"
    return [f"{count} at {', '.join(times)} s ({video})", f"shots: {', '.join(shots)}"]


def take_label(index: int, count: int, seed: int | None, seconds: float) -> str:
    """``take 2 of 4: seed 43, 3.00 s`` (``seed ...`` only when known)."""
    parts = ([] if seed is None else [f"seed {seed}"]) + [f"{seconds:.2f} s"]
    return f"take {index + 1} of {count}: {', '.join(parts)}"


def takes(audio: dict, cls, seeds: list[int] | None, seconds: list[float]) -> dict:
    """The take player's ui entry: each batch item of ``audio`` as a temp FLAC (ComfyUI's own
    preview writer) with its label; ``seeds`` and ``seconds`` per item."""
    files = ui.PreviewAudio(audio, cls=cls).as_dict()["audio"]
    count = len(files)
    seeds = seeds if seeds and len(seeds) == count else [None] * count
    return {
        TAKES: [
            {**dict(entry), "label": take_label(i, count, seed, length)}
            for i, (entry, seed, length) in enumerate(zip(files, seeds, seconds, strict=True))
        ]
    }
