"""Multi-view caption prompts: compose, parse, validate, and the token budget.

Dasheng-AudioGen reads one plain-text prompt in which tags split the scene into views::

    <|caption|> A detective narrates in the rain <|speech|> deep male voice
    <|asr|> The city never sleeps. <|sfx|> rain on pavement <|music|> slow saxophone
    <|env|> distant traffic

``<|caption|>`` (the whole scene) is required and comes first; every other view is optional
and is left out when it has nothing to say.

Order. ``compose_prompt`` and ``PromptViews.compose`` always produce the order of ``VIEWS``:
caption, speech, asr, sfx, music, env. That is the order of the official compose function and of
the model card. The MECAT evaluation sets and the example prompts of the official repository
put ``<|asr|>`` last instead; ``parse_prompt`` accepts that order, and any other order of the
optional views, and ``parse_prompt(text).compose()`` rewrites a prompt into the produced order.
A raw prompt given to ``compose_prompt(prompt=...)`` is passed through verbatim, as in the
official function, because the text encoder sees the order and the audio changes with it.

Tags are plain text for the T5 tokenizer (no special tokens), so this module is pure Python and
never tokenizes: ``token_report`` takes the tokenizer's count function from the caller.

Language. The multilingual checkpoint (mT5) was trained with the descriptive views in English
and only the ``<|asr|>`` words in the spoken language; the English checkpoint is English only.
``language_rule_warning`` spots descriptive views written in another script, the common way
of breaking that rule, so that front ends can warn before generating.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

VIEWS = ("caption", "speech", "asr", "sfx", "music", "env")
"""View names in the order compose produces (official compose function and model card)."""

TAGS = {view: f"<|{view}|>" for view in VIEWS}
"""View name -> its tag as written in a prompt."""

TOKEN_LIMIT = 512
"""The text encoder's ``max_length``: tokens past it (end token included) are cut off."""

_CAPTION_TAG = TAGS["caption"]
_VALID_TAGS = ", ".join(TAGS.values())
# Anything shaped like a tag, so that misspelled or unknown tags are caught instead of being
# read as part of the previous view's text.
_TAG_PATTERN = re.compile(r"<\|([^<>|]*)\|>")


def compose_prompt(
    prompt: str | None = None,
    caption: str | None = None,
    speech: str | None = None,
    asr: str | None = None,
    sfx: str | None = None,
    music: str | None = None,
    env: str | None = None,
) -> str:
    """Build the tagged prompt exactly as the official ``compose_prompt`` does.

    With ``prompt``: the raw string is stripped, must be non-empty and start with
    ``<|caption|>``, and is otherwise returned verbatim (tag order, repeats and spacing are
    kept; the field arguments are ignored). Without it: each field is converted with ``str``
    and stripped, empty fields are dropped, and the rest are joined as ``"<|view|> text"`` in
    ``VIEWS`` order. Raises ValueError when the caption is missing or blank.
    """
    if prompt is not None:
        return _check_raw_prompt(prompt)
    if caption is None or not str(caption).strip():
        raise ValueError("The `caption` field is required and cannot be empty.")
    chunks = []
    for view, value in zip(VIEWS, (caption, speech, asr, sfx, music, env), strict=True):
        text = "" if value is None else str(value).strip()
        _check_unicode(text, f"The {view} text")
        if text:
            chunks.append(f"{TAGS[view]} {text}")
    return " ".join(chunks)


def compose_views(
    caption: str | None = None,
    speech: str | None = None,
    asr: str | None = None,
    sfx: str | None = None,
    music: str | None = None,
    env: str | None = None,
) -> str:
    """``compose_prompt`` from separate view texts, refusing tags typed inside a view.

    Front ends with one text box per view use this: a tag inside a box would otherwise
    silently start another view (``sfx="rain <|music|> jazz"``), which the official function
    lets through.
    """
    texts = (caption, speech, asr, sfx, music, env)
    for view, value in zip(VIEWS, texts, strict=True):
        text = "" if value is None else str(value)
        if "<|" not in text and "|>" not in text:
            continue
        tag = _TAG_PATTERN.search(text)
        if tag and tag.group(1) in TAGS and tag.group(1) != view:
            raise ValueError(
                f"The {view} text contains the tag {tag.group(0)}: tags are added for you, so "
                f"move the text that follows it into the {tag.group(1)} field and delete the tag."
            )
        raise ValueError(
            f"The {view} text contains {'a tag' if tag else 'a broken tag'} "
            f"({text.strip()[:50]!r}): tags are added for you, so remove it."
        )
    return compose_prompt(**dict(zip(VIEWS, texts, strict=True)))


@dataclass(frozen=True)
class PromptViews:
    """The six views of one prompt; an empty string means the view is absent."""

    caption: str = ""
    speech: str = ""
    asr: str = ""
    sfx: str = ""
    music: str = ""
    env: str = ""

    def compose(self) -> str:
        """The tagged prompt in ``VIEWS`` order, empty views left out."""
        return compose_prompt(**self.as_dict())

    def as_dict(self) -> dict[str, str]:
        """``{view: text}`` for every view, in ``VIEWS`` order."""
        return asdict(self)


def validate_prompt(text: str) -> str:
    """Check a raw tagged prompt and return it stripped, otherwise unchanged.

    The one set of prompt rules of the command line, the pipeline and the nodes: the official
    raw-prompt rules (non-empty, starts with ``<|caption|>``, same messages as
    ``compose_prompt``), plus those of ``parse_prompt`` (only the tags of ``TAGS``, each at most
    once, a non-empty caption, no broken tags). The order of the optional views is free and
    kept as written, because the text encoder sees it.
    """
    prompt = _check_raw_prompt(text)
    _split_views(prompt)
    return prompt


def parse_prompt(text: str) -> PromptViews:
    """Split a tagged prompt into its views, after ``validate_prompt``'s checks.

    Each rule fails with a ValueError that says what to change. The optional views may come in
    any order (model card order, or MECAT order with ``<|asr|>`` last) and may be empty; view
    texts are stripped. ``parse_prompt(text).compose()`` gives the same views in ``VIEWS``
    order with the empty ones dropped.
    """
    return PromptViews(**_split_views(_check_raw_prompt(text)))


def _split_views(prompt: str) -> dict[str, str]:
    matches = list(_TAG_PATTERN.finditer(prompt))
    for match in matches:
        if match.group(1) not in TAGS:
            raise ValueError(
                f"Unknown tag {match.group(0)!r} in the prompt. Valid tags (lower case, no "
                f"spaces): {_VALID_TAGS}."
            )
    views: dict[str, str] = {}
    for index, match in enumerate(matches):
        view = match.group(1)
        if view in views:
            raise ValueError(
                f"The tag {TAGS[view]} appears more than once; each view may appear at most "
                f"once. Merge its descriptions into a single {TAGS[view]} section."
            )
        end = matches[index + 1].start() if index + 1 < len(matches) else len(prompt)
        value = prompt[match.end() : end].strip()
        if "<|" in value or "|>" in value:
            raise ValueError(
                f"The {TAGS[view]} view contains a broken tag: {value[:50]!r}. Write tags "
                f"exactly as one of {_VALID_TAGS}."
            )
        views[view] = value
    if not views["caption"]:
        raise ValueError(
            "The <|caption|> view is empty. It is required: describe the whole scene right "
            "after the tag, e.g. '<|caption|> A dog barks in a park'."
        )
    return views


@dataclass(frozen=True)
class TokenReport:
    """How a prompt's token count compares with the text encoder's limit."""

    count: int
    limit: int
    over_limit: bool
    message: str


def token_report(
    prompt: str, count_tokens: Callable[[str], int], limit: int = TOKEN_LIMIT
) -> TokenReport:
    """Count ``prompt`` with the caller's tokenizer and say whether it fits in ``limit``.

    ``count_tokens`` must return the number of ids the text encoder receives, end token
    included (for a Hugging Face tokenizer: ``lambda s: len(tokenizer(s).input_ids)``). The
    encoder truncates to ``limit``, so an over-long prompt loses its last views silently;
    callers show ``message`` as a warning.
    """
    if limit < 1:
        raise ValueError(f"The token limit must be at least 1, got {limit}.")
    count = int(count_tokens(prompt))
    over_limit = count > limit
    if over_limit:
        message = (
            f"Prompt is {count} tokens; the text encoder keeps the first {limit} (including "
            f"the end token) and drops the rest, so the end of the prompt has no effect on the "
            f"audio: shorten the views, starting with the longest."
        )
    else:
        message = f"Prompt is {count} of {limit} tokens."
    return TokenReport(count=count, limit=limit, over_limit=over_limit, message=message)


DESCRIPTIVE_VIEWS = tuple(view for view in VIEWS if view != "asr")
"""The views the model card asks to write in English with either checkpoint."""


def _dominant_non_latin_script(text: str) -> str | None:
    """The script most letters of ``text`` are in, when most are not Latin; else None.

    The script is the first word of the Unicode character name (CYRILLIC, HIRAGANA, CJK,
    HANGUL, GREEK, ...), which is enough to tell a user which view to rewrite.
    """
    scripts = Counter(unicodedata.name(ch, "UNKNOWN").split(" ")[0] for ch in text if ch.isalpha())
    letters = sum(scripts.values())
    if not letters or scripts["LATIN"] * 2 >= letters:
        return None
    del scripts["LATIN"]
    return scripts.most_common(1)[0][0]


def language_rule_warning(prompt: str) -> str | None:
    """A warning when a descriptive view is not in Latin script (English expected), else None.

    The multilingual checkpoint wants every view but ``<|asr|>`` in English; the spoken words
    in ``<|asr|>`` may be in any of its languages. Raw prompts are read leniently (any tag
    order, repeated tags); text before the first tag is ignored.
    """
    texts: dict[str, list[str]] = {}
    matches = list(_TAG_PATTERN.finditer(str(prompt)))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(prompt)
        texts.setdefault(match.group(1), []).append(prompt[match.end() : end])
    offending = {
        view: script
        for view in DESCRIPTIVE_VIEWS
        if (script := _dominant_non_latin_script(" ".join(texts.get(view, []))))
    }
    if not offending:
        return None
    listed = ", ".join(f"{TAGS[view]} ({script.lower()})" for view, script in offending.items())
    return (
        f"Not in English: {listed}. Dasheng-AudioGen was trained with the descriptive views in "
        f"English, the multilingual model too: only {TAGS['asr']} (the words spoken) is written "
        "in the target language. Describe the scene in English for reliable results."
    )


def _check_raw_prompt(prompt: object) -> str:
    # The official raw-prompt rule, kept message for message: nodes and the CLI show these
    # texts, and the golden cases pin them.
    if not isinstance(prompt, str):
        raise TypeError(f"The `prompt` must be a string, got {type(prompt).__name__}.")
    _check_unicode(prompt, "The `prompt` string")
    text = prompt.strip()
    if not text:
        raise ValueError("The `prompt` string is empty.")
    if not text.startswith(_CAPTION_TAG):
        raise ValueError(
            f"The `prompt` string must start with the {_CAPTION_TAG} tag. Got: {text[:50]!r}..."
        )
    return text


def _check_unicode(text: str, what: str) -> None:
    """Refuse text the tokenizer cannot take: lone surrogates, which is what undecodable bytes
    (a Latin-1 ``caf\\xe9`` on a UTF-8 command line) become in Python."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{what} is not valid UTF-8: character {exc.start + 1} "
            f"({ascii(text[exc.start])}) is not a Unicode character. Re-type it, or save the "
            "text as UTF-8."
        ) from None
