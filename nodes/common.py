"""What every node module shares: the category, the custom types, error wording, V3 helpers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

from comfy_api.latest import io

from audiogen_core.checkpoints import WeightsError

CATEGORY = "audio/AudioGen"

Model = io.Custom("AUDIOGEN_MODEL")
TextEncoder = io.Custom("AUDIOGEN_TEXT_ENCODER")
AudioTokenizer = io.Custom("AUDIOGEN_AUDIO_TOKENIZER")
Prompt = io.Custom("AUDIOGEN_PROMPT")
Conditioning = io.Custom("AUDIOGEN_CONDITIONING")
Latent = io.Custom("AUDIOGEN_LATENT")

# ComfyUI 0.3.64 (the oldest version supported) has no search aliases; later versions list a
# node under these words in the node search as well.
_SCHEMA_FIELDS = {field.name for field in dataclasses.fields(io.Schema)}


def search_aliases(*words: str) -> dict:
    """``io.Schema`` keyword arguments that add search words where ComfyUI supports them."""
    return {"search_aliases": list(words)} if "search_aliases" in _SCHEMA_FIELDS else {}


def encoding_inputs() -> list[io.Input]:
    """The models a node that encodes prompts takes: the text encoder and the generator, whose
    conditioner (projection, content adapter, duration head) runs with it."""
    return [
        TextEncoder.Input("text_encoder", tooltip="From AudioGen Load Text Encoder."),
        Model.Input(
            "model",
            tooltip="From AudioGen Load Model (its content adapter and duration head run here; "
            "the DiT stays where it is).",
        ),
    ]


def prompt_input(tooltip: str) -> io.MultiType.Input:
    """A prompt input: the composer's AUDIOGEN_PROMPT or any STRING (a text node, a file)."""
    return io.MultiType.Input("prompt", types=[Prompt, io.String], tooltip=tooltip)


@contextmanager
def user_errors(node: str) -> Iterator[None]:
    """Prefix the errors a user can fix with the node's display name.

    ComfyUI shows the exception text in its error dialog; with the node named there the user
    knows where to look. Other exceptions are bugs and pass through untouched.
    """
    try:
        yield
    except (ValueError, WeightsError) as exc:
        raise _prefixed(exc, f"{node}: {exc}") from exc


def _prefixed(exc: Exception, message: str) -> Exception:
    """``exc``'s own type with ``message``, or its plain base type when that type is built from
    something other than one message (e.g. a list of numbered errors)."""
    try:
        prefixed = type(exc)(message)
    except (TypeError, ValueError):  # its constructor wants something else than a message
        prefixed = None
    if prefixed is None or str(prefixed) != message:
        prefixed = (WeightsError if isinstance(exc, WeightsError) else ValueError)(message)
    return prefixed
