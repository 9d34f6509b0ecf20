"""ComfyUI's services when ComfyUI runs, small stand-ins when it does not (tests, scripts).

The nodes reach ComfyUI only through this module: model folders (``folder_paths``), the
temp directory and its file naming, the progress bar, interruption and model management.
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

from audiogen_core.devices import resolve_device

try:  # ComfyUI puts its own top-level modules on sys.path before importing custom nodes.
    import folder_paths
except ImportError:
    folder_paths = None

try:
    import comfy.model_management as model_management
    import comfy.model_patcher as model_patcher
    import comfy.utils as comfy_utils
except ImportError:
    model_management = None
    model_patcher = None
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


class AudioGenModule(torch.nn.Module):
    """Holds a core module for ComfyUI's ModelPatcher (its log says "Requested to load
    AudioGenModule").

    The patcher writes bookkeeping attributes on the module it manages (``device``,
    ``model_loaded_weight_memory``, ...), and our modules expose ``device`` as a read-only
    property, so the patcher gets this plain container instead.
    """

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner


def make_patcher(module: torch.nn.Module, load_device: torch.device, offload_device: torch.device):
    """A ComfyUI ModelPatcher for ``module``, or None outside ComfyUI."""
    if model_patcher is None:
        return None
    return model_patcher.ModelPatcher(
        AudioGenModule(module), load_device=load_device, offload_device=offload_device
    )


def load_to_compute_device(patchers: list) -> None:
    """Let ComfyUI move these models onto the GPU (evicting others if it must).

    A full load, because our modules are plain torch modules: ComfyUI's partial "lowvram"
    loading only works for layers built with its own casting ops.
    """
    patchers = [p for p in patchers if p is not None]
    if patchers and model_management is not None:
        model_management.load_models_gpu(patchers, force_full_load=True)
