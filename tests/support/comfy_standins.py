"""Minimal, faithful stand-ins for the parts of ComfyUI the node pack meets (test code only).

- ``StandInFolderPaths``: ``folder_paths`` over a temporary ComfyUI tree (models/, input/,
  output/, temp/), with ComfyUI's key registration and file-numbering rules.
- ``StandInComfy``: ``comfy.model_management`` / ``comfy.model_patcher`` / ``comfy.utils``:
  a ModelPatcher that writes its bookkeeping attributes on the module and loads it completely
  or partially as the real one does, ``load_models_gpu`` that records its calls (and can
  simulate a GPU too small for the weights), the interrupt flag and a recording ProgressBar;
  ``comfy.ops`` is tests/support/comfy_ops_standin.py.
- ``CORE_NODES``: the core nodes the shipped workflows use (SaveAudio, PreviewAudio, LoadAudio,
  LoadVideo, GetVideoComponents, CreateVideo, SaveVideo) with ComfyUI 0.3.64's input and output
  definitions; audio is written with soundfile and video with the ffmpeg command line.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import comfy_ops_standin
import numpy as np
import soundfile as sf
import torch

# --------------------------------------------------------------------------- folder_paths


class StandInFolderPaths:
    """The ``folder_paths`` functions the pack and the core-node stand-ins call."""

    def __init__(self, base: Path) -> None:
        self.base_path = str(base)
        self.models_dir = str(base / "models")
        self.folder_names_and_paths: dict[str, tuple[list[str], set[str]]] = {
            "text_encoders": (
                [
                    os.path.join(self.models_dir, "text_encoders"),
                    os.path.join(self.models_dir, "clip"),
                ],
                {".safetensors"},
            ),
        }
        for name in ("input", "output", "temp"):
            (base / name).mkdir(parents=True, exist_ok=True)

    def add_model_folder_path(self, folder_name: str, full_folder_path: str) -> None:
        if folder_name in self.folder_names_and_paths:
            paths = self.folder_names_and_paths[folder_name][0]
            if full_folder_path not in paths:
                paths.append(full_folder_path)
        else:
            self.folder_names_and_paths[folder_name] = ([full_folder_path], set())

    def get_folder_paths(self, folder_name: str) -> list[str]:
        return self.folder_names_and_paths[folder_name][0][:]

    def get_input_directory(self) -> str:
        return os.path.join(self.base_path, "input")

    def get_output_directory(self) -> str:
        return os.path.join(self.base_path, "output")

    def get_temp_directory(self) -> str:
        return os.path.join(self.base_path, "temp")

    def get_annotated_filepath(self, name: str) -> str:
        return os.path.join(self.get_input_directory(), name)

    def get_save_image_path(
        self, filename_prefix: str, output_dir: str, image_width: int = 0, image_height: int = 0
    ) -> tuple[str, str, int, str, str]:
        subfolder = os.path.dirname(os.path.normpath(filename_prefix))
        filename = os.path.basename(os.path.normpath(filename_prefix))
        full_output_folder = os.path.join(output_dir, subfolder)
        os.makedirs(full_output_folder, exist_ok=True)
        numbered = re.compile(re.escape(filename) + r"_(\d+)_")
        counters = [
            int(m.group(1)) for f in os.listdir(full_output_folder) if (m := numbered.match(f))
        ]
        return (
            full_output_folder,
            filename,
            max(counters, default=0) + 1,
            subfolder,
            filename_prefix,
        )


# --------------------------------------------------------------------------- comfy.*


class InterruptProcessingException(Exception):
    pass


def module_size(module: torch.nn.Module) -> int:
    """comfy.model_management.module_size: bytes of the module's state dict."""
    return sum(t.nelement() * t.element_size() for t in module.state_dict().values())


def _load_list(model: torch.nn.Module) -> list[tuple[int, str, torch.nn.Module, list[str]]]:
    """ModelPatcher._load_list: the modules loaded one by one (those holding parameters only
    directly, or built from comfy.ops), with their sizes."""
    loading = []
    for name, module in model.named_modules():
        params = [n for n, _ in module.named_parameters(recurse=False)]
        skip = any(n not in params for n, _ in module.named_parameters(recurse=True))
        if not skip and (hasattr(module, "comfy_cast_weights") or params):
            loading.append((module_size(module), name, module, params))
    return loading


def _wipe_lowvram_weight(module: torch.nn.Module) -> None:
    if hasattr(module, "prev_comfy_cast_weights"):
        module.comfy_cast_weights = module.prev_comfy_cast_weights
        del module.prev_comfy_cast_weights
    if hasattr(module, "weight_function"):
        module.weight_function = []
    if hasattr(module, "bias_function"):
        module.bias_function = []


class StandInModelPatcher:
    """comfy.model_patcher.ModelPatcher without weight patches (LoRA) and hooks: what it writes
    on the managed module, and its complete and partial (low-VRAM) loading and unloading.
    Signatures as ComfyUI's, unannotated (checked against the recorded ones)."""

    def __init__(self, model, load_device, offload_device, size=0, weight_inplace_update=False):
        self.size = size
        self.model = model
        if not hasattr(model, "device") or model.device is None:
            model.device = offload_device
        self.model_size()
        self.load_device = load_device
        self.offload_device = offload_device
        self.patches_uuid = uuid.uuid4()
        for name, value in (
            ("model_loaded_weight_memory", 0),
            ("lowvram_patch_counter", 0),
            ("model_lowvram", False),
            ("current_weight_patches_uuid", None),
        ):
            if not hasattr(model, name):
                setattr(model, name, value)

    def model_size(self):
        if self.size > 0:
            return self.size
        self.size = module_size(self.model)
        return self.size

    def loaded_size(self):
        return self.model.model_loaded_weight_memory

    def current_loaded_device(self):
        return self.model.device

    def load(
        self, device_to=None, lowvram_model_memory=0, force_patch_weights=False, full_load=False
    ):
        mem_counter = 0
        lowvram_counter = 0
        load_completely = []
        for module_mem, _name, module, _params in sorted(
            _load_list(self.model), key=lambda x: (x[0], x[1]), reverse=True
        ):
            lowvram_weight = False
            if not full_load and hasattr(module, "comfy_cast_weights"):
                if mem_counter + module_mem >= lowvram_model_memory:
                    lowvram_weight = True
                    lowvram_counter += 1
                    if hasattr(module, "prev_comfy_cast_weights"):
                        continue
            if lowvram_weight:
                # Left on the offload device; the layer casts its weights as it runs.
                module.weight_function = []
                module.bias_function = []
                module.prev_comfy_cast_weights = module.comfy_cast_weights
                module.comfy_cast_weights = True
            else:
                if hasattr(module, "comfy_cast_weights"):
                    _wipe_lowvram_weight(module)
                if full_load or mem_counter + module_mem < lowvram_model_memory:
                    mem_counter += module_mem
                    load_completely.append(module)
        for module in load_completely:
            module.to(device_to)
        if lowvram_counter > 0:
            self.model.model_lowvram = True
        else:
            self.model.model_lowvram = False
            if full_load:
                self.model.to(device_to)
                mem_counter = self.model_size()
        self.model.device = device_to
        self.model.model_loaded_weight_memory = mem_counter
        self.model.current_weight_patches_uuid = self.patches_uuid

    def partially_load(self, device_to, extra_memory=0, force_patch_weights=False):
        self.unpatch_model(self.offload_device, unpatch_weights=False)
        if not self.model.model_lowvram and self.model.model_loaded_weight_memory > 0:
            return 0
        full_load = self.model.model_loaded_weight_memory + extra_memory > self.model_size()
        current_used = self.model.model_loaded_weight_memory
        self.load(device_to, lowvram_model_memory=current_used + extra_memory, full_load=full_load)
        return self.model.model_loaded_weight_memory - current_used

    def unpatch_model(self, device_to=None, unpatch_weights=True):
        """ComfyUI's full unload: ``module.to(device_to)`` on the managed module, in place."""
        if not unpatch_weights:
            return
        if self.model.model_lowvram:
            for module in self.model.modules():
                _wipe_lowvram_weight(module)
            self.model.model_lowvram = False
            self.model.lowvram_patch_counter = 0
        self.model.current_weight_patches_uuid = None
        if device_to is not None:
            self.model.to(device_to)
            self.model.device = device_to
        self.model.model_loaded_weight_memory = 0

    def detach(self, unpatch_all=True):
        if unpatch_all:
            self.unpatch_model(self.offload_device, unpatch_weights=unpatch_all)
        return self.model


@dataclass
class LoadCall:
    models: list
    memory_required: int
    minimum_memory_required: int | None
    force_full_load: bool


class StandInComfy:
    """``comfy.model_management``, ``comfy.model_patcher`` and ``comfy.utils`` in one object."""

    InterruptProcessingException = InterruptProcessingException

    def __init__(self) -> None:
        self.load_calls: list[LoadCall] = []
        # Weight memory ComfyUI may use for a model on the GPU; None: everything fits.
        self.lowvram_model_memory: int | None = None
        self.progress: list[tuple[int, int]] = []
        self.interrupt_after_updates: int | None = None
        self.interrupt_processing = False
        standin = self

        class ProgressBar:
            def __init__(self, total: int) -> None:
                self.total = total

            def update_absolute(self, value: int, total: int | None = None, preview=None) -> None:
                standin.progress.append((value, total or self.total))
                # ComfyUI's progress hook also checks for Cancel after every update.
                if standin.interrupt_after_updates == len(standin.progress):
                    standin.interrupt_processing = True

        self.ProgressBar = ProgressBar
        self.ModelPatcher = StandInModelPatcher

    def get_torch_device(self) -> torch.device:
        return torch.device("cpu")

    def unet_offload_device(self) -> torch.device:
        return torch.device("cpu")

    text_encoder_offload_device = unet_offload_device
    vae_offload_device = unet_offload_device

    def load_models_gpu(
        self,
        models,
        memory_required=0,
        force_patch_weights=False,
        minimum_memory_required=None,
        force_full_load=False,
    ):
        """Records the call; loads each model completely, or partially when
        ``lowvram_model_memory`` is set (ComfyUI's low/normal-VRAM states)."""
        self.load_calls.append(
            LoadCall(list(models), memory_required, minimum_memory_required, force_full_load)
        )
        budget = self.lowvram_model_memory
        use = 1e32 if budget is None or force_full_load else max(budget, 0.1)
        for patcher in models:
            patcher.partially_load(patcher.load_device, use)

    def throw_exception_if_processing_interrupted(self) -> None:
        if self.interrupt_processing:
            self.interrupt_processing = False
            raise InterruptProcessingException()


def install(monkeypatch, compat, base: Path) -> tuple[StandInFolderPaths, StandInComfy]:
    """Make ``nodes.comfy_compat`` see the stand-in ComfyUI rooted at ``base``."""
    folder_paths = StandInFolderPaths(base)
    comfy = StandInComfy()
    monkeypatch.setattr(compat, "folder_paths", folder_paths)
    monkeypatch.setattr(compat, "model_management", comfy)
    monkeypatch.setattr(compat, "model_patcher", comfy)
    monkeypatch.setattr(compat, "comfy_ops", comfy_ops_standin)
    monkeypatch.setattr(compat, "comfy_utils", comfy)
    return folder_paths, comfy


# --------------------------------------------------------------------------- core nodes

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")


class _FolderPathsUser:
    folder_paths: StandInFolderPaths  # given by bind_core_nodes


def _save_flac(
    audio: dict, filename_prefix: str, directory: str, kind: str, folder_paths: StandInFolderPaths
) -> dict:
    folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
        filename_prefix, directory
    )
    results = []
    for batch_number, waveform in enumerate(audio["waveform"].cpu()):
        file = f"{name.replace('%batch_num%', str(batch_number))}_{counter:05}_.flac"
        sf.write(
            os.path.join(folder, file),
            waveform.T.float().numpy(),
            audio["sample_rate"],
            format="FLAC",
        )
        results.append({"filename": file, "subfolder": subfolder, "type": kind})
        counter += 1
    return {"ui": {"audio": results}}


class SaveAudio(_FolderPathsUser):
    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "audio": ("AUDIO",),
                "filename_prefix": ("STRING", {"default": "audio/ComfyUI"}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    RETURN_TYPES = ()
    FUNCTION = "save_flac"
    OUTPUT_NODE = True
    FRONTEND_WIDGETS = ("audioUI",)

    def save_flac(self, audio: dict, filename_prefix: str = "ComfyUI") -> dict:
        return _save_flac(
            audio,
            filename_prefix,
            self.folder_paths.get_output_directory(),
            "output",
            self.folder_paths,
        )


class PreviewAudio(_FolderPathsUser):
    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {"audio": ("AUDIO",)},
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    RETURN_TYPES = ()
    FUNCTION = "save_flac"
    OUTPUT_NODE = True
    FRONTEND_WIDGETS = ("audioUI",)

    def save_flac(self, audio: dict) -> dict:
        return _save_flac(
            audio,
            "ComfyUI_temp_abcde",
            self.folder_paths.get_temp_directory(),
            "temp",
            self.folder_paths,
        )


class LoadAudio(_FolderPathsUser):
    @classmethod
    def INPUT_TYPES(cls) -> dict:
        files = sorted(os.listdir(cls.folder_paths.get_input_directory()))
        return {"required": {"audio": (files, {"audio_upload": True})}}

    RETURN_TYPES = ("AUDIO",)
    FUNCTION = "load"
    FRONTEND_WIDGETS = ("audioUI", "upload")
    DYNAMIC_COMBOS = ("audio",)  # the list is whatever the user's input/ folder holds

    def load(self, audio: str) -> tuple[dict]:
        data, rate = sf.read(
            self.folder_paths.get_annotated_filepath(audio), dtype="float32", always_2d=True
        )
        return ({"waveform": torch.from_numpy(data.T.copy()).unsqueeze(0), "sample_rate": rate},)


class VideoComponents:
    def __init__(self, images: torch.Tensor, frame_rate: Fraction, audio: dict | None) -> None:
        self.images, self.frame_rate, self.audio = images, frame_rate, audio


class VideoFromComponents:
    """CreateVideo's result: frames, rate and audio, written to MP4 on save."""

    def __init__(self, components: VideoComponents) -> None:
        self.components = components

    def get_components(self) -> VideoComponents:
        return self.components

    def get_dimensions(self) -> tuple[int, int]:
        return self.components.images.shape[2], self.components.images.shape[1]

    def save_to(self, path: str) -> None:
        images = self.components.images
        rate = Fraction(round(self.components.frame_rate * 1000), 1000)
        with tempfile.TemporaryDirectory() as tmp:
            command = [
                FFMPEG,
                "-v",
                "error",
                "-y",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-s",
                f"{images.shape[2]}x{images.shape[1]}",
                "-r",
                str(rate),
                "-i",
                "-",
            ]
            audio = self.components.audio
            if audio is not None:
                # As ComfyUI: the soundtrack is cut to the picture, rounded up to a sample.
                sample_rate = int(audio["sample_rate"])
                keep = math.ceil(sample_rate / rate * images.shape[0])
                wav = os.path.join(tmp, "audio.wav")
                sf.write(
                    wav, audio["waveform"][0, :, :keep].T.numpy(), sample_rate, subtype="FLOAT"
                )
                command += ["-i", wav, "-c:a", "aac"]
            command += ["-c:v", "libx264", "-pix_fmt", "yuv420p", path]
            frames = (images * 255).clamp(0, 255).to(torch.uint8).numpy().tobytes()
            subprocess.run(command, input=frames, check=True)


class VideoFromFile:
    """LoadVideo's result: frames decoded with ffmpeg, rate read with ffprobe."""

    def __init__(self, path: str) -> None:
        self.path = path

    def get_components(self) -> VideoComponents:
        info = probe(self.path)["streams"][0]
        width, height = int(info["width"]), int(info["height"])
        raw = subprocess.run(
            [FFMPEG, "-v", "error", "-i", self.path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
            capture_output=True,
            check=True,
        ).stdout
        frames = np.frombuffer(raw, dtype=np.uint8).reshape(-1, height, width, 3)
        images = torch.from_numpy(frames.astype(np.float32) / 255.0)
        return VideoComponents(images, Fraction(info["avg_frame_rate"]), None)


def probe(path: str) -> dict:
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-show_streams", "-count_frames", "-of", "json", path],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    return json.loads(out)


class LoadVideo(_FolderPathsUser):
    @classmethod
    def INPUT_TYPES(cls) -> dict:
        files = sorted(os.listdir(cls.folder_paths.get_input_directory()))
        return {"required": {"file": (files, {"video_upload": True})}}

    RETURN_TYPES = ("VIDEO",)
    FUNCTION = "execute"
    FRONTEND_WIDGETS = ("upload",)
    DYNAMIC_COMBOS = ("file",)

    def execute(self, file: str) -> tuple[VideoFromFile]:
        return (VideoFromFile(self.folder_paths.get_annotated_filepath(file)),)


class GetVideoComponents:
    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {"required": {"video": ("VIDEO",)}}

    RETURN_TYPES = ("IMAGE", "AUDIO", "FLOAT")
    RETURN_NAMES = ("images", "audio", "fps")
    FUNCTION = "execute"

    def execute(self, video) -> tuple:
        components = video.get_components()
        return (components.images, components.audio, float(components.frame_rate))


class CreateVideo:
    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "images": ("IMAGE",),
                "fps": ("FLOAT", {"default": 30.0, "min": 1.0, "max": 120.0, "step": 1.0}),
            },
            "optional": {"audio": ("AUDIO",)},
        }

    RETURN_TYPES = ("VIDEO",)
    FUNCTION = "execute"

    def execute(self, images: torch.Tensor, fps: float, audio: dict | None = None) -> tuple:
        return (VideoFromComponents(VideoComponents(images, Fraction(fps), audio)),)


class SaveVideo(_FolderPathsUser):
    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "video": ("VIDEO",),
                "filename_prefix": ("STRING", {"default": "video/ComfyUI"}),
                "format": (["auto", "mp4"], {"default": "auto"}),
                "codec": (["auto", "h264"], {"default": "auto"}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    RETURN_TYPES = ()
    FUNCTION = "execute"
    OUTPUT_NODE = True

    def execute(
        self, video: VideoFromComponents, filename_prefix: str, format: str, codec: str
    ) -> dict:
        width, height = video.get_dimensions()
        folder, name, counter, subfolder, _ = self.folder_paths.get_save_image_path(
            filename_prefix, self.folder_paths.get_output_directory(), width, height
        )
        file = f"{name}_{counter:05}_.mp4"
        video.save_to(os.path.join(folder, file))
        return {
            "ui": {
                "images": [{"filename": file, "subfolder": subfolder, "type": "output"}],
                "animated": (True,),
            }
        }


CORE_NODES = {
    cls.__name__: cls
    for cls in (
        SaveAudio,
        PreviewAudio,
        LoadAudio,
        LoadVideo,
        GetVideoComponents,
        CreateVideo,
        SaveVideo,
    )
}


def bind_core_nodes(folder_paths: StandInFolderPaths) -> dict[str, type]:
    """The core-node stand-ins, reading and writing in ``folder_paths``' tree."""
    return {
        name: type(name, (cls,), {"folder_paths": folder_paths}) for name, cls in CORE_NODES.items()
    }
