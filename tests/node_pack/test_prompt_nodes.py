"""Caption composer and parser nodes."""

from __future__ import annotations

import pytest
from workflow_graph import run_node

from nodes.prompt_nodes import AudioGenCaptionComposer, AudioGenCaptionParser

VIEWS = {
    "caption": "  A detective narrates  ",
    "speech": "deep male voice",
    "asr": "The city never sleeps.",
    "sfx": "rain on pavement",
    "music": "",
    "env": "distant traffic",
}
COMPOSED = (
    "<|caption|> A detective narrates <|speech|> deep male voice <|asr|> The city never "
    "sleeps. <|sfx|> rain on pavement <|env|> distant traffic"
)


def test_composer_outputs_the_tagged_prompt_as_its_own_type_and_as_string():
    prompt, text = run_node(AudioGenCaptionComposer, **VIEWS)
    assert prompt == text == COMPOSED


@pytest.mark.parametrize("caption", ["", "   \n "])
def test_empty_caption_is_a_clear_error(caption):
    with pytest.raises(ValueError, match=r"^AudioGen Caption Composer: .*caption.*required"):
        run_node(AudioGenCaptionComposer, **{**VIEWS, "caption": caption})


@pytest.mark.parametrize(
    "field, text, complaint",
    [
        ("sfx", "rain <|foley|> steps", "sfx text contains a tag"),
        ("music", "piano <|sfx|> door", "move the text that follows it into the sfx field"),
        ("sfx", "rain <|music|> jazz", "move the text that follows it into the music field"),
        ("env", "<|env|> wind", "env text contains a tag"),
        ("asr", "hello |> there", "asr text contains a broken tag"),
    ],
)
def test_tags_typed_inside_a_field_are_refused(field, text, complaint):
    with pytest.raises(ValueError, match=r"^AudioGen Caption Composer: ") as caught:
        run_node(AudioGenCaptionComposer, **{**VIEWS, field: text})
    assert complaint in str(caught.value)


def test_parser_splits_a_prompt_back_into_views_in_any_order():
    views = run_node(
        AudioGenCaptionParser,
        "<|caption|> A detective narrates <|env|> distant traffic <|speech|> deep male voice "
        "<|sfx|> rain on pavement <|asr|> The city never sleeps.",
    ).result
    assert views == (
        "A detective narrates",
        "deep male voice",
        "The city never sleeps.",
        "rain on pavement",
        "",
        "distant traffic",
    )
    assert run_node(AudioGenCaptionComposer, *views)[0] == COMPOSED


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("<|caption|> a dog <|bark|> woof", "Unknown tag '<|bark|>'"),
        ("a dog barks", "must start with the <|caption|> tag"),
        ("", "empty"),
    ],
)
def test_parser_errors_name_the_node_and_the_fix(text, complaint):
    with pytest.raises(ValueError, match=r"^AudioGen Caption Parser: ") as caught:
        run_node(AudioGenCaptionParser, text)
    assert complaint in str(caught.value)


def test_composer_warns_when_a_descriptive_view_is_not_in_english(caplog):
    views = {**VIEWS, "caption": "女性が静かに語る", "asr": "こんにちは"}
    with caplog.at_level("WARNING", logger="nodes.prompt_nodes"):
        run_node(AudioGenCaptionComposer, **views)
    assert "AudioGen Caption Composer: Not in English: <|caption|>" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="nodes.prompt_nodes"):
        run_node(AudioGenCaptionComposer, **{**VIEWS, "asr": "こんにちは"})
    assert caplog.text == ""
