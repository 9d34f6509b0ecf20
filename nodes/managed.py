"""A loaded model as it travels between nodes, with ComfyUI's memory management attached.

Loaders return a ``ManagedModel``; the nodes that compute call ``ready(...)`` with the parts
they use and what the call needs beyond the weights (``audiogen_core.runtime.memory``), which inside
ComfyUI moves those weights onto the GPU through ``load_models_gpu``, completely or, when
memory is short, partially (and lets ComfyUI offload them again when another model needs the
memory, or on "Free model and node cache"). Outside ComfyUI the model already sits on its
device and ``ready`` changes nothing.

The generator is managed as two parts with one patcher each: the text side (projection and
content adapter, about 12 M parameters, used by Text Encode) and the sampling side (the
2.17 B-parameter DiT and the embeddings it reads). Text Encode thus never moves the DiT.
Nothing here keeps a tensor of its own: the patchers hold the model's modules, which ComfyUI
moves in place, so after an offload the weights are only where ComfyUI put them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from audiogen_core.conditioning.encoded import Conditioning
from audiogen_core.models.audio_tokenizer.chunked import DECODE_CHUNK_FRAMES
from audiogen_core.models.ops import weight_dtype_from_name
from audiogen_core.runtime import memory
from audiogen_core.runtime.devices import resolve_dtype
from audiogen_core.sampling.latent import AudioLatent
from audiogen_core.sampling.settings import SETTINGS

from . import comfy_compat, native


@dataclass
class ManagedModel:
    """A core component (generator, text encoder or audio tokenizer) and where it came from.

    ``dtype`` is the compute dtype, ``weight_dtype`` the storage dtype of the matrix weights
    (None: the compute dtype). ``patcher`` manages the whole component, or for the generator
    its sampling side; ``text_side`` is the generator's text-side patcher (None for the other
    components). Both are None outside ComfyUI.
    """

    component: Any
    folder: Path
    dtype: torch.dtype
    weight_dtype: torch.dtype | None = None
    patcher: Any = None
    text_side: Any = None


def generator_parts(generator: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    """``(sampling side, text side)`` of a generator: the DiT and the conditioner (text
    projection and content adapter), disjoint, each computing where its patcher puts it.

    Both are the generator's own modules (no copies), so a patcher moving one moves those
    tensors in place for the generator too. The few top-level vectors and buffers (dummy
    embeddings, instruction) belong to neither: they are copied to where they are used.
    """
    return generator.backbone, generator.conditioner


def _load(
    loader: Callable[..., Any],
    folder: Path,
    device: str,
    precision: str,
    weight_dtype: str,
    offload_kind: str,
) -> tuple[ManagedModel, torch.device, torch.device]:
    """The loaded component (no patchers yet), and its load and offload devices.

    "auto" precision is chosen for the device the model computes on, not where it rests.
    ``weight_dtype`` is the loader's option ("default", "bf16", "fp8_e4m3fn", ...). The layers
    are ComfyUI's inside ComfyUI (``comfy_compat.operations_for``), so it can load the model
    partially; outside, the core's default.
    """
    load_device, offload_device = comfy_compat.compute_devices(device, offload_kind)
    dtype = resolve_dtype(precision, load_device)
    storage = weight_dtype_from_name(weight_dtype)
    storage = None if storage == dtype else storage
    component = loader(
        folder,
        offload_device,
        dtype,
        operations=comfy_compat.operations_for(dtype, storage),
        weight_dtype=storage,
    )
    managed = ManagedModel(component=component, folder=folder, dtype=dtype, weight_dtype=storage)
    return managed, load_device, offload_device


def load_managed(
    loader: Callable[..., Any],
    folder: Path,
    device: str,
    precision: str,
    weight_dtype: str,
    offload_kind: str,
    module_of: Callable[[Any], torch.nn.Module] = lambda component: component,
) -> ManagedModel:
    """Load a component where ComfyUI wants it parked and wrap it for model management.

    ``module_of`` gives the torch module to manage (the text encoder keeps it in ``.model``).
    """
    managed, load_device, offload_device = _load(
        loader, folder, device, precision, weight_dtype, offload_kind
    )
    module = module_of(managed.component)
    managed.patcher = comfy_compat.make_patcher(module, load_device, offload_device)
    return managed


def load_managed_generator(
    loader: Callable[..., Any], folder: Path, device: str, precision: str, weight_dtype: str
) -> ManagedModel:
    """Load the generator with one patcher for its sampling side and one for its text side."""
    managed, load_device, offload_device = _load(
        loader, folder, device, precision, weight_dtype, "unet"
    )
    sampling_side, text_side = generator_parts(managed.component)
    # Inside ComfyUI the DiT is held in the BaseModel its own samplers drive, so the native
    # MODEL (a clone of this patcher) and the pack's Sampler share one loaded-model entry.
    sampling_side = native.sampling_module(managed.component)
    managed.patcher = comfy_compat.make_patcher(sampling_side, load_device, offload_device)
    managed.text_side = comfy_compat.make_patcher(text_side, load_device, offload_device)
    return managed


def ready(*patchers: Any, memory_required: int = 0) -> None:
    """Put these managed parts on their compute device together (they are used in one call
    that needs ``memory_required`` bytes beyond the weights)."""
    comfy_compat.load_to_compute_device(list(patchers), memory_required)


# --------------------------------------------------------------------------- memory estimates
# What each node's call needs beyond the weights, for ``ready``: the core's estimates with the
# shapes the call will have.


def prompt_encoding_memory(text_encoder: ManagedModel, model: ManagedModel, prompt: str) -> int:
    """Text Encode: the T5 forward and the generator's conditioner, for this prompt's tokens."""
    encoder, generator = text_encoder.component, model.component
    tokenizer = generator.tokenizer or encoder.tokenizer
    ids, _, _ = tokenizer.tokenize([prompt], encoder.max_length)
    return memory.prompt_encoding_bytes(encoder.model, generator, 1, int(ids.shape[1]))


def sampling_memory(
    model: ManagedModel,
    conditioning: Conditioning,
    duration_s: float | None,
    variations: int,
    guidance: float,
    window_s: float | None = SETTINGS.window_s,
) -> int:
    """The Sampler: every item of the batch at the longest length, or one window's frames for
    a clip sampled window by window; guidance above 1 doubles the DiT batch, and each timed
    prompt adds a row per item (the blend time mode's upper bound; aligned needs less)."""
    generator = model.component
    rate = int(generator.frame_rate)
    if duration_s:
        frames = max(1, round(duration_s * rate))
    else:
        frames = max(conditioning.predicted_frames)
    if window_s is not None:
        frames = min(frames, round(window_s * rate))
    contexts = [conditioning.tensors, *(timed.tensors for timed in conditioning.timed)]
    return memory.sampling_bytes(
        generator,
        batch=conditioning.batch_size * variations,
        frames=max(frames, 1),
        context_tokens=max(int(c.context.shape[1]) for c in contexts),
        guidance=guidance > 1.0,
        timed_prompts=len(conditioning.timed),
    )


def decoding_memory(audio_tokenizer: ManagedModel, latent: AudioLatent) -> int:
    """Decode: one piece of ``AudioGenPipeline.decode`` (the latent, or a chunk and its context
    frames on both sides when the latent is longer than a chunk)."""
    tokenizer = audio_tokenizer.component
    frames = int(latent.latent.shape[-1])
    if frames > DECODE_CHUNK_FRAMES:
        frames = DECODE_CHUNK_FRAMES + 2 * int(tokenizer.decode_context_frames)
    return memory.decoding_bytes(tokenizer, latent.batch_size, frames)
