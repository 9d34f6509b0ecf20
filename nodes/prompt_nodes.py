"""Caption composer and parser: per-view text fields <-> one tagged prompt."""

from __future__ import annotations

import logging

from comfy_api.latest import io

from audiogen_core.conditioning.prompt import (
    VIEWS,
    compose_views,
    language_rule_warning,
    parse_prompt,
)

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


ALIASES = ("audiogen prompt", "caption", "tags", "text to audio", "tts", "sound effects")


class AudioGenCaptionComposer(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Caption Composer"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenCaptionComposer",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Builds the tagged multi-view prompt Dasheng-AudioGen reads: "
                "<|caption|> ... <|speech|> ... <|asr|> ... <|sfx|> ... <|music|> ... "
                "<|env|> .... Empty views are left out; the caption is required. Do not type "
                "tags yourself: the node refuses them and says which box to use.\n\n"
                "Connect prompt to AudioGen Text Encode; text is the same prompt as a STRING "
                "(to save, show or parse).\n\n"
                "Under the boxes the node counts the prompt's tokens as you type, against the "
                "text encoder's limit of 512 (end token included): exact with the tokenizer of "
                "the text encoder folder chosen on the Load Text Encoder node the prompt goes "
                "to, an estimate marked as such (for English within about 20 %) when no "
                "tokenizer file is found; hover over it for the reason. The count turns amber "
                "from 90 % of the limit and red past it: the text encoder drops everything "
                "after 512 tokens, so the last views would have no effect.\n\n"
                "For stems, use one composer per stem with the same caption and a single view "
                "each, then mix them with AudioGen Mixer."
            ),
            inputs=[
                io.String.Input(
                    view,
                    multiline=True,
                    default="",
                    tooltip=VIEW_TOOLTIPS[view],
                    placeholder=VIEW_PLACEHOLDERS[view],
                )
                for view in VIEWS
            ],
            outputs=[
                common.Prompt.Output(
                    display_name="prompt", tooltip="The tagged prompt, for Text Encode."
                ),
                io.String.Output(
                    display_name="text",
                    tooltip="The same prompt as plain text (to show, save or parse).",
                ),
            ],
            **common.search_aliases(*ALIASES, "foley", "music prompt"),
        )

    @classmethod
    def execute(
        cls, caption: str, speech: str, asr: str, sfx: str, music: str, env: str
    ) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            prompt = compose_views(
                caption=caption, speech=speech, asr=asr, sfx=sfx, music=music, env=env
            )
        if warning := language_rule_warning(prompt):
            logger.warning("%s: %s", cls.DISPLAY_NAME, warning)
        return io.NodeOutput(prompt, prompt)


class AudioGenCaptionParser(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Caption Parser"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenCaptionParser",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Splits a tagged prompt back into its views, e.g. to edit one view or to "
                "feed each view to its own composer for stems. Views may come in any order."
            ),
            inputs=[
                io.String.Input(
                    "text",
                    multiline=True,
                    default="",
                    placeholder="<|caption|> A dog barks in a park <|env|> birds",
                    tooltip="A tagged prompt starting with <|caption|>; tags: "
                    + " ".join(f"<|{v}|>" for v in VIEWS)
                    + ".",
                ),
            ],
            outputs=[
                io.String.Output(display_name=view, tooltip=f"The {view} view ('' when absent).")
                for view in VIEWS
            ],
            **common.search_aliases(*ALIASES, "split prompt"),
        )

    @classmethod
    def execute(cls, text: str) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            views = parse_prompt(text)
        return io.NodeOutput(*views.as_dict().values())


NODES = (AudioGenCaptionComposer, AudioGenCaptionParser)
