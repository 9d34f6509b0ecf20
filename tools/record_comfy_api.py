"""Record ComfyUI's real comfy_api.latest (see comfy_api_probe.py) as the stand-in's fixture.

Run from the root of a ComfyUI checkout, with ComfyUI's Python environment:
    cd ComfyUI && python <this repo>/tools/record_comfy_api.py \
        > <this repo>/tests/fixtures/comfy_api_0.3.64.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.getcwd())  # ComfyUI's root: comfy_api, comfy, folder_paths
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

import comfy_api.latest as api  # noqa: E402
from comfy_api_probe import describe  # noqa: E402
from comfyui_version import __version__  # noqa: E402

print(json.dumps({"comfyui": __version__, **describe(api)}, indent=1, sort_keys=True))
