"""The timeline text format: good lines of every shape, and every kind of bad line reported
with its number, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiogen_core.conditioning.timeline import Timeline, TimelineError, TimelineEvent
from audiogen_core.conditioning.timeline_text import TimelineSyntaxError, parse_timeline

EXAMPLE = """\
# Sound design on a timeline
env: steady rain on a tin roof
2.0-3.0 sfx: a heavy door slams   # the slam
3- speech: calm male narrator
3- asr: It was a night like any other.

7 - 8.5s SFX: a dog barks twice
1:02.5-1:04 <|caption|> a car passes <|sfx|> tyres on wet asphalt
"""


def _events(timeline):
    return [(e.start_s, e.end_s, e.prompt, e.line) for e in timeline.events]


def test_example_reads_into_a_base_and_timed_events():
    timeline = parse_timeline(EXAMPLE)
    assert (
        timeline.base == "<|caption|> steady rain on a tin roof <|env|> steady rain on a tin roof"
    )
    assert _events(timeline) == [
        (2.0, 3.0, "<|caption|> a heavy door slams <|sfx|> a heavy door slams", 3),
        (
            3.0,
            None,
            "<|caption|> calm male narrator <|speech|> calm male narrator "
            "<|asr|> It was a night like any other.",
            4,
        ),
        (7.0, 8.5, "<|caption|> a dog barks twice <|sfx|> a dog barks twice", 7),
        (62.5, 64.0, "<|caption|> a car passes <|sfx|> tyres on wet asphalt", 8),
    ]


@pytest.mark.parametrize(
    ("line", "start", "end"),
    [
        ("2-3 x", 2.0, 3.0),
        ("2.5s-3s x", 2.5, 3.0),
        (".5-1. x", 0.5, 1.0),
        ("2.0 \u2013 3.0 x", 2.0, 3.0),
        ("2.0\u20143.0 x", 2.0, 3.0),
        ("0:02-0:03.25 x", 2.0, 3.25),
        ("4- x", 4.0, None),
        ("4 - x", 4.0, None),
    ],
)
def test_time_range_spellings(line, start, end):
    (event,) = parse_timeline(line).events
    assert (event.start_s, event.end_s, event.prompt) == (start, end, "<|caption|> x")


def test_views_captions_comments_and_order():
    timeline = parse_timeline(
        "\ufeff  # only a comment\n"
        "5-6 music: slow jazz\n"
        "5-6 caption: a bar at night # with a # in the comment\n"
        "1-2 caption: key#2 turns\n"
        "\n"
        "Music: distant radio\n"
    )
    assert timeline.base == "<|caption|> distant radio <|music|> distant radio"
    assert _events(timeline) == [
        (1.0, 2.0, "<|caption|> key#2 turns", 4),
        (5.0, 6.0, "<|caption|> a bar at night <|music|> slow jazz", 2),
    ]


def test_caption_with_a_colon_and_round_trip():
    timeline = parse_timeline("caption: Warning: loud\n0-1 speech: a: b")
    assert timeline.base == "<|caption|> Warning: loud"
    labelled = parse_timeline("caption: background music: jazz\n0-1 sfx: the env: hum")
    assert labelled.base == "<|caption|> background music: jazz"
    assert labelled.events[0].prompt == "<|caption|> the env: hum <|sfx|> the env: hum"
    assert timeline.events[0].prompt == "<|caption|> a: b <|speech|> a: b"
    again = parse_timeline(timeline.to_text())
    assert again.base == timeline.base
    assert [e[:3] for e in _events(again)] == [e[:3] for e in _events(timeline)]
    made = Timeline((TimelineEvent(0.25, None, "<|caption|> hum"),), None)
    assert [e[:3] for e in _events(parse_timeline(made.to_text()))] == [
        (0.25, None, "<|caption|> hum")
    ]


BAD = """\
sfxx: a door
2.0-1.0 sfx: a door
2..3 sfx: a door
4-5
4-5 sfx:
6-7 sfx: a <|music|> b
8-9 sfx: a
8-9 sfx: b
caption: rain
caption: more rain
10-11 <|sfx|> a door
-1-2 sfx: a door
3-4 sfx: one
3-4 <|caption|> two
5-5.5 <|caption|> ok
5-5.5 sfx: more
12-13 caption: caf\udce9
abc-7 music: piano
14-15 a door, then SFX: a bang
"""

BAD_LINES = {
    1: "unknown view 'sfxx'",
    2: "ends (1 s) before it starts (2 s)",
    3: "cannot read the times",
    4: "the event 4-5 has no text",
    5: "the sfx line has no text",
    6: "contains a tag",
    8: "already has a sfx line (line 7)",
    10: "the base prompt already has a caption line (line 9)",
    11: "must start with the <|caption|> tag",
    12: "cannot read the times",
    14: "must be the only line of this event, which already has text (line 13)",
    16: "already a whole tagged prompt (line 15)",
    17: "not valid UTF-8",
    # A view label after other text is mistyped times or a misplaced label, not caption text.
    18: "the view label 'music:' is not at the start of the line (after 'abc-7')",
    19: "the view label 'SFX:' is not at the start of the line (after 'a door, then')",
}


def test_every_bad_line_is_reported_at_once_with_its_number():
    with pytest.raises(TimelineSyntaxError) as caught:
        parse_timeline(BAD)
    found = dict(caught.value.errors)
    assert sorted(found) == sorted(BAD_LINES)
    for number, expected in BAD_LINES.items():
        assert expected in found[number], (number, found[number])
    message = str(caught.value)
    assert message.startswith(f"{len(BAD_LINES)} problems in the timeline text:\nline 1: ")
    assert isinstance(caught.value, TimelineError) and isinstance(caught.value, ValueError)


def test_one_problem_and_empty_texts():
    with pytest.raises(TimelineSyntaxError, match=r"^1 problem in the timeline text:\nline 2: "):
        parse_timeline("0-1 sfx: ok\n1-2 bogus: x")
    for empty in ("", "\n  \n# nothing\n"):
        with pytest.raises(TimelineError, match="no events and no base line"):
            parse_timeline(empty)
    with pytest.raises(TypeError, match="string"):
        parse_timeline(b"0-1 sfx: x")


def test_the_documented_example_parses():
    # docs/timeline.md's example file; tests/docs/test_examples.py also runs it with its command.
    page = (Path(__file__).resolve().parents[2] / "docs" / "timeline.md").read_text("utf-8")
    block = page.split("```text file=scene.txt\n", 1)[1].split("```\n", 1)[0]
    timeline = parse_timeline(block)
    assert (
        timeline.base == "<|caption|> steady rain on a tin roof <|env|> steady rain on a tin roof"
    )
    assert [(e.start_s, e.end_s) for e in timeline.events] == [
        (2.0, 3.0),
        (3.0, None),
        (8.5, 10.0),
    ]
