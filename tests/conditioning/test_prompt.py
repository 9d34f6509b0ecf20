"""Prompt rules: the official compose cases, the strict parser, raw validation, token budget.

``case_g_compose_prompt.json`` (from ``tests/fixtures/golden`` or ``$AUDIOGEN_GOLDEN_DIR``)
holds calls of the official ``compose_prompt`` with their results or errors;
``tests/fixtures/prompts/official_examples.json`` holds prompts copied from the model card,
the official example files and the MECAT evaluation sets, each with its source.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import pytest

from audiogen_core.conditioning.prompt import (
    TAGS,
    TOKEN_LIMIT,
    VIEWS,
    PromptViews,
    TokenReport,
    compose_prompt,
    parse_prompt,
    token_report,
    validate_prompt,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOLDEN_DIR = Path(os.environ.get("AUDIOGEN_GOLDEN_DIR") or FIXTURES / "golden")
GOLDEN_COMPOSE = next(
    path
    for path in (
        GOLDEN_DIR / "case_g_compose_prompt.json",
        FIXTURES / "golden" / "case_g_compose_prompt.json",
    )
    if path.is_file()
)
OFFICIAL = json.loads((FIXTURES / "prompts" / "official_examples.json").read_text("utf-8"))


def _golden_rows() -> list[dict]:
    if not GOLDEN_COMPOSE.exists():
        return []
    return json.loads(GOLDEN_COMPOSE.read_text("utf-8"))["examples"]


def _tag_order(prompt: str) -> list[str]:
    return re.findall(r"<\|(\w+)\|>", prompt)


# --- the official compose function -----------------------------------------------------------


@pytest.mark.parametrize("row", _golden_rows(), ids=lambda row: repr(row["kwargs"])[:60])
def test_compose_matches_reference(row):
    if "error" in row:
        assert row["error"] == "ValueError"
        with pytest.raises(ValueError) as raised:
            compose_prompt(**row["kwargs"])
        assert str(raised.value) == row["message"]
    else:
        assert compose_prompt(**row["kwargs"]) == row["result"]


def test_constants():
    assert VIEWS == ("caption", "speech", "asr", "sfx", "music", "env")
    assert TAGS == {view: f"<|{view}|>" for view in VIEWS}
    assert list(TAGS) == list(VIEWS)
    assert TOKEN_LIMIT == 512


def test_compose_uses_views_order_whatever_the_keyword_order():
    composed = compose_prompt(env="e", music="m", sfx="s", asr="a", speech="p", caption="c")
    assert composed == "<|caption|> c <|speech|> p <|asr|> a <|sfx|> s <|music|> m <|env|> e"


def test_compose_raw_prompt_is_passed_through_like_the_reference():
    # The official function checks only emptiness and the leading caption tag.
    raw = "<|caption|> a  <|foo|> b <|sfx|> c <|sfx|> d"
    assert compose_prompt(prompt=f"\n{raw}\t") == raw


# --- parse_prompt ------------------------------------------------------------------------


def test_parse_all_views():
    views = parse_prompt(
        "<|caption|> scene <|speech|> voice <|asr|> words <|sfx|> bang <|music|> jazz "
        "<|env|> street"
    )
    assert views == PromptViews("scene", "voice", "words", "bang", "jazz", "street")


def test_parse_caption_only_leaves_other_views_empty():
    assert parse_prompt("  <|caption|> A dog barks  ") == PromptViews(caption="A dog barks")


def test_parse_accepts_asr_last_and_compose_moves_it_after_speech():
    mecat_order = "<|caption|> c <|speech|> p <|sfx|> s <|music|> m <|env|> e <|asr|> a"
    views = parse_prompt(mecat_order)
    assert views.asr == "a"
    assert views.compose() == "<|caption|> c <|speech|> p <|asr|> a <|sfx|> s <|music|> m <|env|> e"


def test_parse_accepts_any_order_of_optional_views():
    views = parse_prompt("<|caption|> c <|env|> e <|music|> m <|asr|> a <|sfx|> s <|speech|> p")
    assert views == PromptViews("c", "p", "a", "s", "m", "e")


def test_parse_keeps_empty_views_and_compose_drops_them():
    views = parse_prompt("<|caption|> c <|speech|> <|sfx|>   <|env|> wind")
    assert views == PromptViews(caption="c", env="wind")
    assert views.compose() == "<|caption|> c <|env|> wind"


def test_parse_strips_view_text_and_keeps_inner_whitespace():
    views = parse_prompt("<|caption|>rain\n<|asr|>  line one\nline two  ")
    assert views.caption == "rain"
    assert views.asr == "line one\nline two"


OFFICIAL_TAG_LIST = "<|caption|>, <|speech|>, <|asr|>, <|sfx|>, <|music|>, <|env|>"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The `prompt` string is empty."),
        ("  \n ", "The `prompt` string is empty."),
        (
            "A train passes <|caption|> x",
            "The `prompt` string must start with the <|caption|> tag. "
            "Got: 'A train passes <|caption|> x'...",
        ),
        (
            "<|speech|> old man <|caption|> x",
            "The `prompt` string must start with the <|caption|> tag. "
            "Got: '<|speech|> old man <|caption|> x'...",
        ),
        (
            "<|caption|> x <|voice|> y",
            f"Unknown tag '<|voice|>' in the prompt. Valid tags (lower case, no spaces): "
            f"{OFFICIAL_TAG_LIST}.",
        ),
        (
            "<|caption|> x <|SFX|> y",
            f"Unknown tag '<|SFX|>' in the prompt. Valid tags (lower case, no spaces): "
            f"{OFFICIAL_TAG_LIST}.",
        ),
        (
            "<|caption|> x <|sfx|> a <|env|> b <|sfx|> c",
            "The tag <|sfx|> appears more than once; each view may appear at most once. "
            "Merge its descriptions into a single <|sfx|> section.",
        ),
        (
            "<|caption|> x <|caption|> y",
            "The tag <|caption|> appears more than once; each view may appear at most once. "
            "Merge its descriptions into a single <|caption|> section.",
        ),
        (
            "<|caption|>   <|sfx|> horn",
            "The <|caption|> view is empty. It is required: describe the whole scene right "
            "after the tag, e.g. '<|caption|> A dog barks in a park'.",
        ),
        (
            "<|caption|> x <|sfx> horn",
            f"The <|caption|> view contains a broken tag: 'x <|sfx> horn'. Write tags exactly "
            f"as one of {OFFICIAL_TAG_LIST}.",
        ),
    ],
)
def test_parse_rejects(text, message):
    with pytest.raises(ValueError) as raised:
        parse_prompt(text)
    assert str(raised.value) == message


# --- validate_prompt ---------------------------------------------------------------------


def test_validate_returns_stripped_prompt_with_order_kept():
    raw = "<|caption|> c <|env|> e <|asr|> a  b"
    assert validate_prompt(f"  {raw}\n") == raw


@pytest.mark.parametrize(
    "text, message",
    [
        ("<|caption|> c <|env|> e <|sfx|> a <|sfx|> b", "<|sfx|> appears more than once"),
        ("<|caption|>   <|sfx|> rain", "The <|caption|> view is empty"),
        ("<|caption|>", "The <|caption|> view is empty"),
        ("<|caption|> c <|sfx|> a <|music", "broken tag"),
    ],
)
def test_validate_applies_the_parser_rules_everywhere(text, message):
    # The pipeline, the command line and Text Encode validate; the Caption Parser parses.
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_prompt(text)
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_prompt(text)


@pytest.mark.parametrize("bad", ["caf\udce9", "\ud800 alone"])
def test_text_that_is_not_unicode_is_a_clear_error(bad):
    # Undecodable command-line bytes reach Python as lone surrogates.
    with pytest.raises(ValueError, match="not valid UTF-8"):
        validate_prompt(f"<|caption|> {bad}")
    with pytest.raises(ValueError, match="The sfx text is not valid UTF-8"):
        compose_prompt(caption="ok", sfx=bad)


@pytest.mark.parametrize("value", [None, 3, b"<|caption|> bytes"])
def test_a_prompt_that_is_not_a_string_is_a_type_error(value):
    with pytest.raises(TypeError, match="must be a string"):
        validate_prompt(value)


def test_validate_rejects_unknown_tags():
    with pytest.raises(ValueError, match=re.escape("Unknown tag '<|narrator|>'")):
        validate_prompt("<|caption|> c <|narrator|> n")


@pytest.mark.parametrize("text", ["", "no tags at all", "<|env|> e <|caption|> c"])
def test_validate_applies_reference_raw_rules(text):
    with pytest.raises(ValueError) as ours:
        validate_prompt(text)
    with pytest.raises(ValueError) as reference:
        compose_prompt(prompt=text)
    assert str(ours.value) == str(reference.value)


# --- PromptViews and round trips -----------------------------------------------------------


def test_prompt_views_defaults_dict_and_immutability():
    views = PromptViews(caption="c", music="m")
    assert views.as_dict() == {
        "caption": "c",
        "speech": "",
        "asr": "",
        "sfx": "",
        "music": "m",
        "env": "",
    }
    assert list(views.as_dict()) == list(VIEWS)
    assert views.compose() == "<|caption|> c <|music|> m"
    with pytest.raises(dataclasses.FrozenInstanceError):
        views.caption = "other"


def test_prompt_views_compose_requires_a_caption():
    with pytest.raises(ValueError, match="The `caption` field is required"):
        PromptViews(speech="voice").compose()


@pytest.mark.parametrize(
    "views",
    [
        PromptViews(caption="only"),
        PromptViews("c", "p", "a", "s", "m", "e"),
        PromptViews(caption="Birds at dawn", env="forest"),
        PromptViews(caption="Der Zug fährt ein.", asr="Zurückbleiben, bitte!"),
    ],
)
def test_parse_of_compose_is_identity(views):
    assert parse_prompt(views.compose()) == views


def test_compose_of_parse_gives_canonical_form():
    messy = "  <|caption|>c   <|env|>  e <|speech|>p<|asr|> a  "
    assert parse_prompt(messy).compose() == "<|caption|> c <|speech|> p <|asr|> a <|env|> e"


# --- token_report --------------------------------------------------------------------------


def _word_count(text: str) -> int:
    # Stand-in for a tokenizer: one token per word plus the end token.
    return len(text.split()) + 1


def test_token_report_within_limit():
    report = token_report("<|caption|> a dog", _word_count)
    assert report == TokenReport(
        count=4, limit=512, over_limit=False, message="Prompt is 4 of 512 tokens."
    )


def test_token_report_exactly_at_limit_fits():
    assert not token_report("a b c", _word_count, limit=4).over_limit


def test_token_report_over_limit_says_what_is_lost_and_what_to_do():
    report = token_report("x " * 529, _word_count)
    assert report.count == 530 and report.limit == TOKEN_LIMIT and report.over_limit
    assert report.message == (
        "Prompt is 530 tokens; the text encoder keeps the first 512 (including the end token) "
        "and drops the rest, so the end of the prompt has no effect on the audio: shorten the "
        "views, starting with the longest."
    )


def test_token_report_counts_the_prompt_it_is_given():
    seen = []
    token_report("<|caption|> c", lambda text: seen.append(text) or 3)
    assert seen == ["<|caption|> c"]


def test_token_report_rejects_a_non_positive_limit():
    with pytest.raises(ValueError, match="at least 1, got 0"):
        token_report("<|caption|> c", _word_count, limit=0)


# --- the official examples -----------------------------------------------------------------


def test_official_examples_sample_size_and_sources():
    examples = OFFICIAL["examples"]
    assert 10 <= len(examples) <= 30
    assert len({example["id"] for example in examples}) == len(examples)
    for example in examples:
        assert example["source"].startswith("https://"), example["id"]
        assert example["order"] in {"canonical", "asr_last", "other"}, example["id"]
    orders = {example["order"] for example in examples}
    assert {"canonical", "asr_last"} <= orders


@pytest.mark.parametrize("example", OFFICIAL["examples"], ids=lambda example: example["id"])
def test_official_example(example):
    prompt = example["prompt"]
    views = parse_prompt(prompt)
    assert _tag_order(prompt)[0] == "caption"
    assert views.caption
    assert validate_prompt(prompt) == prompt
    canonical = views.compose()
    assert _tag_order(canonical) == [view for view in VIEWS if view in _tag_order(prompt)]
    assert parse_prompt(canonical) == views
    if example["order"] == "canonical":
        assert canonical == prompt
    elif example["order"] == "asr_last":
        assert _tag_order(prompt)[-1] == "asr"
        assert canonical != prompt
    if "fields" in example:
        assert compose_prompt(**example["fields"]) == prompt
        assert views.as_dict() == {view: example["fields"].get(view, "") for view in VIEWS}


def test_mecat_prompt_is_reordered_with_asr_after_speech():
    example = next(e for e in OFFICIAL["examples"] if e["id"].startswith("mecat_SMA_SQ5J"))
    assert parse_prompt(example["prompt"]).compose() == (
        "<|caption|> Acoustic guitar demonstration with brief spoken explanation and background "
        "interference <|speech|> Male voice explaining musical terminology: 'Okay, so that's the "
        "pre-chord' <|asr|> Okay, so that's the pre-chord. <|sfx|> Sustained guitar resonance "
        "with intermittent background interference <|music|> Slow-tempo acoustic guitar "
        "performance with folk/pop characteristics <|env|> Small room acoustics with variable "
        "reverberation and electronic interference"
    )


def test_compose_views_refuses_tags_typed_inside_a_view():
    from audiogen_core.conditioning.prompt import compose_views

    assert compose_views(caption="a dog", sfx="bark") == "<|caption|> a dog <|sfx|> bark"
    with pytest.raises(
        ValueError, match="sfx text contains the tag <[|]music[|]>.*follows it into the music field"
    ):
        compose_views(caption="a dog", sfx="rain <|music|> jazz")
    with pytest.raises(ValueError, match="caption text contains a broken tag"):
        compose_views(caption="a dog <|sfx")
    with pytest.raises(ValueError, match="caption.*required"):
        compose_views(caption="  ")


# ---------------------------------------------------------------- language rule (multilingual)


@pytest.mark.parametrize(
    "prompt",
    [
        "<|caption|> A woman narrates calmly <|asr|> Hola, ¿cómo estás?",
        "<|caption|> A girl speaks <|asr|> こんにちは、元気ですか？",
        "<|caption|> A man speaks <|speech|> deep voice <|asr|> Привет <|env|> quiet room",
        # A few foreign letters in an English view (a quoted name) are fine.
        "<|caption|> A man says the word 雨 in a quiet room",
        "<|caption|> Café ambience, crème brûlée, naïve Übermut",
    ],
)
def test_language_rule_accepts_english_views(prompt):
    from audiogen_core.conditioning.prompt import language_rule_warning

    assert language_rule_warning(prompt) is None


def test_language_rule_names_each_view_not_in_latin_script():
    from audiogen_core.conditioning.prompt import language_rule_warning

    warning = language_rule_warning(
        "<|caption|> 女性が話す <|speech|> 穏やかな声 <|asr|> こんにちは <|env|> Тихая комната"
    )
    assert warning is not None
    assert "<|caption|> (cjk)" in warning and "<|speech|> (hiragana)" in warning
    assert "<|env|> (cyrillic)" in warning and "<|asr|> (hiragana)" not in warning
    assert "English" in warning


def test_language_rule_reads_raw_prompts_in_any_order():
    from audiogen_core.conditioning.prompt import language_rule_warning

    warning = language_rule_warning("<|caption|> A man <|asr|> 안녕하세요 <|sfx|> 문 닫는 소리")
    assert warning is not None and warning.startswith("Not in English: <|sfx|> (hangul)")
