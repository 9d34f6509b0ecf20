"""Stand-in for ``comfy_api.latest.ui`` (ComfyUI 0.3.64): PreviewAudio, PreviewImage, PreviewText.

``PreviewAudio`` writes each clip of an AUDIO batch as FLAC into the temp folder, named
``ComfyUI_temp_<5 letters>_<counter:05>_.flac`` through ``folder_paths.get_save_image_path``,
and gives ``{"audio": [{"filename", "subfolder", "type": "temp"}, ...]}``. ComfyUI encodes with
PyAV; the stand-in writes the same FLAC with soundfile. ``folder_paths`` is ComfyUI's module
there; here the tests assign a stand-in (comfy_standins.StandInFolderPaths).

``PreviewImage`` writes each picture of an IMAGE batch ([B, H, W, 3] float 0..1) as a PNG into
the temp folder under the same kind of name, counting up from one counter, and gives
``{"images": [...], "animated": (False,)}``; like ComfyUI, it embeds the prompt and workflow
of the run (the hidden PROMPT and EXTRA_PNGINFO inputs) as PNG text chunks.
"""

from __future__ import annotations

import json
import os
import random
import string

import numpy as np
import soundfile as sf
from PIL import Image
from PIL.PngImagePlugin import PngInfo

folder_paths = None  # set by the tests


class PreviewAudio:
    def __init__(self, audio: dict, cls: type = None, **kwargs):
        if folder_paths is None:
            raise RuntimeError("the stand-in ui module needs folder_paths (see comfy_standins)")
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
            _temp_prefix(), folder_paths.get_temp_directory()
        )
        self.values = []
        for offset, clip in enumerate(audio["waveform"].cpu()):
            filename = f"{name}_{counter + offset:05}_.flac"
            sf.write(
                os.path.join(folder, filename),
                clip.T.float().numpy(),
                int(audio["sample_rate"]),
                format="FLAC",
            )
            self.values.append({"filename": filename, "subfolder": subfolder, "type": "temp"})

    def as_dict(self) -> dict:
        return {"audio": self.values}


def _temp_prefix() -> str:
    return "ComfyUI_temp_" + "".join(random.choices(string.ascii_lowercase, k=5))


class PreviewImage:
    def __init__(self, image, animated: bool = False, cls: type = None, **kwargs):
        if folder_paths is None:
            raise RuntimeError("the stand-in ui module needs folder_paths (see comfy_standins)")
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
            _temp_prefix(), folder_paths.get_temp_directory(), image[0].shape[1], image[0].shape[0]
        )
        metadata = None
        hidden = getattr(cls, "hidden", None)
        if hidden is not None:
            metadata = PngInfo()
            if hidden.prompt:
                metadata.add_text("prompt", json.dumps(hidden.prompt))
            for key, value in (hidden.extra_pnginfo or {}).items():
                metadata.add_text(key, json.dumps(value))
        self.values = []
        for offset, picture in enumerate(image):
            pixels = np.clip(255.0 * picture.cpu().numpy(), 0, 255).astype(np.uint8)
            filename = f"{name}_{counter + offset:05}_.png"
            Image.fromarray(pixels).save(
                os.path.join(folder, filename), pnginfo=metadata, compress_level=1
            )
            self.values.append({"filename": filename, "subfolder": subfolder, "type": "temp"})
        self.animated = animated

    def as_dict(self) -> dict:
        return {"images": self.values, "animated": (self.animated,)}


class PreviewText:
    def __init__(self, value: str, **kwargs):
        self.value = value

    def as_dict(self) -> dict:
        return {"text": (self.value,)}
