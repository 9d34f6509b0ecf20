"""ComfyUI's services when ComfyUI runs, small stand-ins when it does not (tests, scripts).

The nodes reach ComfyUI only through this module: model folders (``folder_paths``), the
temp directory and its file naming, the progress bar, interruption, the layer classes models
are built from (``comfy.ops``) and model management.
Each name below is looked up at call time, so tests can swap in a stand-in ComfyUI module
with ``monkeypatch.setattr(comfy_compat, "folder_paths", fake)``.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

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


class StandInProgressBar:
    """The part of ``comfy.utils.ProgressBar`` the nodes use: absolute updates."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.current = 0

    def update_absolute(self, value: int, total: int | None = None, preview=None) -> None:
        if total is not None:
            self.total = total
        self.current = min(value, self.total)


def progress_bar(total: int):
    """ComfyUI's ProgressBar (drives the node's progress ring) or the stand-in."""
    if comfy_utils is not None:
        return comfy_utils.ProgressBar(total)
    return StandInProgressBar(total)


# --------------------------------------------------------------------------- interruption


class AudioGenInterrupted(Exception):
    """Raised by the stand-in interrupt check, where ComfyUI would raise its own exception."""


_interrupt = threading.Event()


def request_interrupt() -> None:
    """Ask the running stage to stop at its next check (the stand-in for ComfyUI's Cancel)."""
    _interrupt.set()


def throw_if_interrupted() -> None:
    """Raise if the user cancelled: ComfyUI's check when present, the stand-in flag otherwise.

    Like ComfyUI's own check, a raised request is consumed, so the next run starts clean.
    """
    if model_management is not None:
        model_management.throw_exception_if_processing_interrupted()
        return
    if _interrupt.is_set():
        _interrupt.clear()
        raise AudioGenInterrupted(
            "Processing was interrupted: sampling stopped before the "
            "last step; queue the prompt again to restart it."
        )


# --------------------------------------------------------------------------- files


def temp_directory() -> Path:
    """Where previews go: ComfyUI's temp/ (wiped at start-up), else a folder in the OS temp."""
    if folder_paths is not None:
        return Path(folder_paths.get_temp_directory())
    return Path(tempfile.gettempdir()) / "comfyui-audiogen"


def next_file_stem(filename_prefix: str, directory: Path) -> tuple[Path, str, int, str]:
    """``(folder, name, counter, subfolder)`` for ``<name>_<counter:05>_.<ext>`` files.

    ComfyUI's own ``get_save_image_path`` when present (the same numbering SaveAudio uses);
    otherwise the same rule: one more than the highest counter already in the folder.
    """
    if folder_paths is not None:
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, str(directory)
        )
        return Path(folder), name, counter, subfolder
    subfolder = os.path.dirname(os.path.normpath(filename_prefix))
    name = os.path.basename(os.path.normpath(filename_prefix))
    folder = Path(directory) / subfolder
    folder.mkdir(parents=True, exist_ok=True)
    numbered = re.compile(re.escape(name) + r"_(\d+)_")
    counters = [int(m.group(1)) for p in folder.iterdir() if (m := numbered.match(p.name))]
    return folder, name, max(counters, default=0) + 1, subfolder


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
