"""A loaded model as it travels between nodes, with ComfyUI's memory management attached.

Loaders return a ``ManagedModel``; the nodes that compute call ``ready(...)`` with the parts
they use, which inside ComfyUI moves those weights onto the GPU through ``load_models_gpu``
(and lets ComfyUI offload them again when another model needs the memory, or on "Free model
and node cache"). Outside ComfyUI the model already sits on its device and ``ready`` changes
nothing.

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

from audiogen_core.devices import resolve_dtype

from . import comfy_compat


@dataclass
class ManagedModel:
    """A core component (generator, text encoder or audio tokenizer) and where it came from.

    ``patcher`` manages the whole component, or for the generator its sampling side;
    ``text_side`` is the generator's text-side patcher (None for the other components).
    Both are None outside ComfyUI.
    """

    component: Any
    folder: Path
    dtype: torch.dtype
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


def load_managed(
    loader: Callable[[Path, torch.device, torch.dtype], Any],
    folder: Path,
    device: str,
    precision: str,
    offload_kind: str,
    module_of: Callable[[Any], torch.nn.Module] = lambda component: component,
) -> ManagedModel:
    """Load a component where ComfyUI wants it parked and wrap it for model management.

    "auto" precision is chosen for the device the model computes on, not where it rests.
    ``module_of`` gives the torch module to manage (the text encoder keeps it in ``.model``).
    """
    load_device, offload_device = comfy_compat.compute_devices(device, offload_kind)
    dtype = resolve_dtype(precision, load_device)
    component = loader(folder, offload_device, dtype)
    patcher = comfy_compat.make_patcher(module_of(component), load_device, offload_device)
    return ManagedModel(component=component, folder=folder, dtype=dtype, patcher=patcher)


def load_managed_generator(
    loader: Callable[[Path, torch.device, torch.dtype], Any],
    folder: Path,
    device: str,
    precision: str,
) -> ManagedModel:
    """Load the generator with one patcher for its sampling side and one for its text side."""
    load_device, offload_device = comfy_compat.compute_devices(device, "unet")
    dtype = resolve_dtype(precision, load_device)
    generator = loader(folder, offload_device, dtype)
    sampling_side, text_side = generator_parts(generator)
    return ManagedModel(
        component=generator,
        folder=folder,
        dtype=dtype,
        patcher=comfy_compat.make_patcher(sampling_side, load_device, offload_device),
        text_side=comfy_compat.make_patcher(text_side, load_device, offload_device),
    )


def ready(*patchers: Any) -> None:
    """Put these managed parts on their compute device together (they are used in one call)."""
    comfy_compat.load_to_compute_device(list(patchers))
