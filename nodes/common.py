"""What every node module shares: the category, the custom type names, error wording."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from audiogen_core.weights import WeightsError

CATEGORY = "audio/AudioGen"

MODEL = "AUDIOGEN_MODEL"
TEXT_ENCODER = "AUDIOGEN_TEXT_ENCODER"
AUDIO_TOKENIZER = "AUDIOGEN_AUDIO_TOKENIZER"
PROMPT = "AUDIOGEN_PROMPT"
# Where a prompt is read, a plain STRING (a text node, a file loader) is accepted as well.
PROMPT_OR_STRING = f"{PROMPT},STRING"
CONDITIONING = "AUDIOGEN_CONDITIONING"
LATENT = "AUDIOGEN_LATENT"


@contextmanager
def user_errors(node: str) -> Iterator[None]:
    """Prefix the errors a user can fix with the node's display name.

    ComfyUI shows the exception text in its error dialog; with the node named there the user
    knows where to look. Other exceptions are bugs and pass through untouched.
    """
    try:
        yield
    except (ValueError, WeightsError) as exc:
        raise type(exc)(f"{node}: {exc}") from exc
