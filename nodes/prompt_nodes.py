"""Caption composer and parser: per-view text fields <-> one tagged prompt."""

from __future__ import annotations

import logging

from audiogen_core.prompt import VIEWS, compose_views, language_rule_warning, parse_prompt

from . import common

logger = logging.getLogger(__name__)

VIEW_TOOLTIPS = {
    "caption": "Required. The whole scene in one or two sentences: who and what is heard, where. "
    "In English, also with the multilingual model.",
    "speech": "Optional. Who speaks and how: voice, gender, age, accent, emotion, pace.",
    "asr": "Optional. The exact words spoken (a transcript), in quotes or plain text. With the "
    "multilingual model (Dasheng-AudioGen-Multilingual) write only this view in the spoken "
    "language (Spanish, Portuguese, Russian, French, Japanese, Korean, German) and the other "
    "views in English.",
    "sfx": "Optional. Sound effects: discrete events such as footsteps, a door, a bark.",
    "music": "Optional. Background music: genre, instruments, mood, tempo.",
    "env": "Optional. Ambience: the continuous background of the place (rain, traffic, wind).",
}
# ComfyUI shows no label on a multiline box, so each placeholder starts with the view's name.
VIEW_PLACEHOLDERS = {
    "caption": "caption (required): the whole scene, e.g. A detective narrates a rainy night",
    "speech": "speech (optional): the voice, e.g. deep, tired male voice",
    "asr": "asr (optional): the words spoken, e.g. The city never sleeps.",
    "sfx": "sfx (optional): sound effects, e.g. rain on pavement, a car passing",
    "music": "music (optional): e.g. slow saxophone",
    "env": "env (optional): ambience, e.g. distant traffic",
}


class AudioGenCaptionComposer:
    DISPLAY_NAME = "AudioGen Caption Composer"
    DESCRIPTION = (
        "Builds the tagged multi-view prompt Dasheng-AudioGen reads: "
        "<|caption|> ... <|speech|> ... <|asr|> ... <|sfx|> ... <|music|> ... "
        "<|env|> .... Empty views are left out; the caption is required."
    )
    CATEGORY = common.CATEGORY
    RETURN_TYPES = (common.PROMPT, "STRING")
    RETURN_NAMES = ("prompt", "text")
    OUTPUT_TOOLTIPS = (
        "The tagged prompt, for Text Encode.",
        "The same prompt as plain text (to show, save or parse).",
    )
    FUNCTION = "compose"

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                view: (
                    "STRING",
                    {
                        "multiline": True,
                        "default": "",
                        "tooltip": VIEW_TOOLTIPS[view],
                        "placeholder": VIEW_PLACEHOLDERS[view],
                    },
                )
                for view in VIEWS
            }
        }

    def compose(
        self, caption: str, speech: str, asr: str, sfx: str, music: str, env: str
    ) -> tuple[str, str]:
        with common.user_errors(self.DISPLAY_NAME):
            prompt = compose_views(
                caption=caption, speech=speech, asr=asr, sfx=sfx, music=music, env=env
            )
        if warning := language_rule_warning(prompt):
            logger.warning("%s: %s", self.DISPLAY_NAME, warning)
        return (prompt, prompt)


class AudioGenCaptionParser:
    DISPLAY_NAME = "AudioGen Caption Parser"
    DESCRIPTION = (
        "Splits a tagged prompt back into its views, e.g. to edit one view or to "
        "feed each view to its own composer for stems. Views may come in any order."
    )
    CATEGORY = common.CATEGORY
    RETURN_TYPES = ("STRING",) * len(VIEWS)
    RETURN_NAMES = VIEWS
    OUTPUT_TOOLTIPS = tuple(f"The {view} view ('' when absent)." for view in VIEWS)
    FUNCTION = "parse"

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "text": (
                    "STRING",
                    {
                        "multiline": True,
                        "default": "",
                        "placeholder": "<|caption|> A dog barks in a park <|env|> birds",
                        "tooltip": "A tagged prompt starting with <|caption|>; tags: "
                        + " ".join(f"<|{v}|>" for v in VIEWS)
                        + ".",
                    },
                ),
            }
        }

    def parse(self, text: str) -> tuple[str, ...]:
        with common.user_errors(self.DISPLAY_NAME):
            views = parse_prompt(text)
        return tuple(views.as_dict().values())


NODES = (AudioGenCaptionComposer, AudioGenCaptionParser)
