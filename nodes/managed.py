"""A loaded model as it travels between nodes, with ComfyUI's memory management attached.

Loaders return a ``ManagedModel``; the nodes that compute call ``ready(...)`` first, which
inside ComfyUI moves the weights onto the GPU through ``load_models_gpu`` (and lets ComfyUI
offload them again when another model needs the memory, or on "Free model and node cache").
Outside ComfyUI the model already sits on its device and ``ready`` changes nothing.
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
    """A core component (generator, text encoder or audio tokenizer) and where it came from."""

    component: Any
    folder: Path
    dtype: torch.dtype
    patcher: Any = None  # ComfyUI's ModelPatcher, None outside ComfyUI


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


def ready(*models: ManagedModel) -> None:
    """Put these models on their compute device together (they are used in one call)."""
    comfy_compat.load_to_compute_device([m.patcher for m in models])
