"""In-graph audio previews: FLAC files in ComfyUI's temp folder, named as PreviewAudio does.

The returned entries form the ``{"audio": [...]}`` ui payload ComfyUI's own audio player
reads (``/api/view?filename=&subfolder=&type=temp``); web/audiogen.js attaches that player
to our nodes.
"""

from __future__ import annotations

import random
import string

import soundfile as sf
import torch

from . import comfy_compat


def write_preview(audio: dict, prefix: str = "AudioGen") -> list[dict]:
    """Write each clip of an AUDIO batch as FLAC into the temp folder; return the ui entries."""
    # PreviewAudio adds "_temp_" and five random letters so previews of different nodes and
    # runs never collide, and the browser never plays a cached older file.
    prefix += "_temp_" + "".join(random.choices(string.ascii_lowercase, k=5))
    folder, name, counter, subfolder = comfy_compat.next_file_stem(
        prefix, comfy_compat.temp_directory()
    )
    waveform: torch.Tensor = audio["waveform"]
    results = []
    for offset, clip in enumerate(waveform.detach().cpu().float()):
        filename = f"{name}_{counter + offset:05}_.flac"
        sf.write(
            folder / filename,
            clip.clamp(-1.0, 1.0).T.numpy(),
            int(audio["sample_rate"]),
            format="FLAC",
            subtype="PCM_24",
        )
        results.append({"filename": filename, "subfolder": subfolder, "type": "temp"})
    return results
