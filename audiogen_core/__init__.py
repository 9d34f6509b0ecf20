"""Dasheng-AudioGen in plain PyTorch: prompt, text encoder, generator, audio tokenizer.

This package never imports ComfyUI; the node pack in ``nodes/`` is a thin adapter over it.

The public API is re-exported here and imported on first use (PEP 562), so that importing a
light part (``audiogen_core.media.view``, the prompt helpers) does not load torch and the
pipeline: ``from audiogen_core import AudioGenPipeline, Conditioning, SETTINGS``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it
_EXPORTS = {
    "AudioGenPipeline": "pipeline",
    "GeneratedAudio": "pipeline",
    "NonFiniteAudioError": "pipeline",
    "Conditioning": "conditioning.encoded",
    "ConditioningTensors": "conditioning.encoded",
    "TextStates": "conditioning.encoded",
    "TimedPrompt": "conditioning.encoded",
    "Timeline": "conditioning.timeline",
    "TimelineEvent": "conditioning.timeline",
    "TimelineError": "conditioning.timeline",
    "parse_timeline": "conditioning.timeline_text",
    "compose_prompt": "conditioning.prompt",
    "compose_views": "conditioning.prompt",
    "language_rule_warning": "conditioning.prompt",
    "AudioLatent": "sampling.latent",
    "frames_for_duration": "sampling.latent",
    "extend": "sampling.editing",
    "regenerate_range": "sampling.editing",
    "SETTINGS": "sampling.settings",
}

__all__ = [
    "AudioGenPipeline",
    "AudioLatent",
    "Conditioning",
    "ConditioningTensors",
    "GeneratedAudio",
    "NonFiniteAudioError",
    "SETTINGS",
    "TextStates",
    "TimedPrompt",
    "Timeline",
    "TimelineError",
    "TimelineEvent",
    "compose_prompt",
    "compose_views",
    "extend",
    "frames_for_duration",
    "language_rule_warning",
    "parse_timeline",
    "regenerate_range",
]

if TYPE_CHECKING:
    from .conditioning.encoded import Conditioning, ConditioningTensors, TextStates, TimedPrompt
    from .conditioning.prompt import compose_prompt, compose_views, language_rule_warning
    from .conditioning.timeline import Timeline, TimelineError, TimelineEvent
    from .conditioning.timeline_text import parse_timeline
    from .pipeline import AudioGenPipeline, GeneratedAudio, NonFiniteAudioError
    from .sampling.editing import extend, regenerate_range
    from .sampling.latent import AudioLatent, frames_for_duration
    from .sampling.settings import SETTINGS


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
