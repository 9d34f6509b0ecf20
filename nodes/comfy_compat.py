"""ComfyUI's services when ComfyUI runs, and what the nodes do without them (tests, scripts).

The nodes reach ComfyUI only through this module: model folders (``folder_paths``), the
progress bar, interruption, the layer classes models are built from (``comfy.ops``) and model
management.
Each name below is looked up at call time, so tests can swap in a stand-in ComfyUI module
with ``monkeypatch.setattr(comfy_compat, "folder_paths", fake)``.
"""

from __future__ import annotations

import torch

from audiogen_core.runtime.devices import resolve_device

try:  # ComfyUI puts its own top-level modules on sys.path before importing custom nodes.
    import folder_paths
except ImportError:
    folder_paths = None

try:
    import comfy.model_management as model_management
    import comfy.model_patcher as model_patcher
    import comfy.ops as comfy_ops
    import comfy.utils as comfy_utils
except ImportError:
    model_management = None
    model_patcher = None
    comfy_ops = None
    comfy_utils = None


# --------------------------------------------------------------------------- progress


def progress_bar(total: int):
    """ComfyUI's ProgressBar (drives the node's progress ring), or None without ComfyUI."""
    if comfy_utils is None:
        return None
    return comfy_utils.ProgressBar(total)


def throw_if_interrupted() -> None:
    """Raise ComfyUI's own exception if the user pressed Cancel (nothing cancels without it)."""
    if model_management is not None:
        model_management.throw_exception_if_processing_interrupted()


# --------------------------------------------------------------------------- model management


def compute_devices(device: str, offload_kind: str) -> tuple[torch.device, torch.device]:
    """``(load device, offload device)`` for a loader's device choice.

    Inside ComfyUI "auto" means ComfyUI's own choice (which honours --cpu, --gpu-only and
    friends) and models rest on its offload device between uses; ``offload_kind`` names the
    model_management function that gives it ("unet", "text_encoder" or "vae"). Without ComfyUI
    a model lives on its compute device.
    """
    if model_management is None:
        chosen = resolve_device(device)
        return chosen, chosen
    if device == "auto":
        load = torch.device(model_management.get_torch_device())
    else:
        load = resolve_device(device)
    if load.type == "cpu":
        return load, load
    offload = getattr(model_management, f"{offload_kind}_offload_device")()
    return load, torch.device(offload)


def operations_for(dtype: torch.dtype, weight_dtype: torch.dtype | None):
    """The layer classes to build a model with, for the core loaders' ``operations=``.

    Inside ComfyUI its own: ``manual_cast`` when the weights are stored in another dtype than
    the one they compute in (fp8 or bf16 storage), else ``disable_weight_init``. Both let
    ComfyUI's ModelPatcher load a model partially (low VRAM): it leaves some layers' weights
    on the offload device and switches on their cast-on-the-fly path. Not ``pick_operations``:
    with ``--fast`` it may return ComfyUI's fp8 matrix-multiply layers, which expect its scaled
    fp8 checkpoints. Outside ComfyUI None: the core's default (torch's layers, or its own
    casting ones when the two dtypes differ).
    """
    if comfy_ops is None:
        return None
    if weight_dtype is not None and weight_dtype != dtype:
        return comfy_ops.manual_cast
    return comfy_ops.disable_weight_init


def make_patcher(module: torch.nn.Module, load_device: torch.device, offload_device: torch.device):
    """A ComfyUI ModelPatcher for ``module`` (a core model, whose ``device`` it may assign), or
    None outside ComfyUI."""
    if model_patcher is None:
        return None
    return model_patcher.ModelPatcher(
        module, load_device=load_device, offload_device=offload_device
    )


def load_to_compute_device(patchers: list, memory_required: int) -> None:
    """Let ComfyUI put these models on their compute device for a call needing
    ``memory_required`` bytes beyond the weights.

    ComfyUI first offloads other models until the weights and that much fit, then loads ours
    completely, or partially when they still do not fit (low VRAM): the layers left offloaded
    cast their weights onto the GPU as they run. ``minimum_memory_required`` is left to its
    default, the same figure: our calls cannot be split into smaller ones the way ComfyUI's
    sampler splits a batch.
    """
    patchers = [p for p in patchers if p is not None]
    if patchers and model_management is not None:
        model_management.load_models_gpu(patchers, memory_required=memory_required)
