"""Stand-in for ``comfy_api.latest.ui`` (ComfyUI 0.3.64): PreviewAudio and PreviewText.

``PreviewAudio`` writes each clip of an AUDIO batch as FLAC into the temp folder, named
``ComfyUI_temp_<5 letters>_<counter:05>_.flac`` through ``folder_paths.get_save_image_path``,
and gives ``{"audio": [{"filename", "subfolder", "type": "temp"}, ...]}``. ComfyUI encodes with
PyAV; the stand-in writes the same FLAC with soundfile. ``folder_paths`` is ComfyUI's module
there; here the tests assign a stand-in (comfy_standins.StandInFolderPaths).
"""

from __future__ import annotations

import os
import random
import string

import soundfile as sf

folder_paths = None  # set by the tests


class PreviewAudio:
    def __init__(self, audio: dict, cls: type = None, **kwargs):
        if folder_paths is None:
            raise RuntimeError("the stand-in ui module needs folder_paths (see comfy_standins)")
        prefix = "ComfyUI_temp_" + "".join(random.choices(string.ascii_lowercase, k=5))
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
            prefix, folder_paths.get_temp_directory()
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


class PreviewText:
    def __init__(self, value: str, **kwargs):
        self.value = value

    def as_dict(self) -> dict:
        return {"text": (self.value,)}
