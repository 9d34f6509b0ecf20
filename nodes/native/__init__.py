"""Native sampling: the generator's DiT as a ComfyUI MODEL for ComfyUI's own samplers.

Only this package touches ComfyUI's model classes, and only lazily: ``model.py`` subclasses
``comfy.model_base.BaseModel`` and is imported when a generator is loaded inside ComfyUI
(:func:`sampling_module`) or a MODEL is made. The other modules are plain torch over the core:
``conditioning.py`` (CONDITIONING and the empty LATENT), ``sampling.py`` (NOISE, SIGMAS),
``latents.py`` (AUDIOGEN_LATENT <-> LATENT); ``native_nodes.py`` declares the nodes.
"""

from __future__ import annotations

import logging

from torch import nn

logger = logging.getLogger(__name__)

# Why the loaded generator could not be offered to ComfyUI's samplers (None: it can, or no
# generator was loaded inside ComfyUI yet).
unavailable_reason: str | None = None


def sampling_module(generator) -> nn.Module:
    """The module ComfyUI's memory manager holds for the generator's sampling side: inside
    ComfyUI the BaseModel around its DiT (shared by the pack's Sampler and the native MODEL),
    else the DiT itself."""
    global unavailable_reason
    try:
        from .model import AudioGenBaseModel
    except ImportError:  # no ComfyUI: scripts and tests
        return generator.backbone
    try:
        module = AudioGenBaseModel(generator)
    except Exception as exc:  # a ComfyUI whose BaseModel changed: the pack's Sampler still works
        unavailable_reason = f"{type(exc).__name__}: {exc}"
        logger.warning(
            "AudioGen: this ComfyUI's BaseModel cannot wrap the generator (%s); AudioGen "
            "Model (native) is unavailable, the AudioGen Sampler works as before",
            unavailable_reason,
        )
        return generator.backbone
    unavailable_reason = None
    return module
