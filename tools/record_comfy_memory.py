"""Record ComfyUI's real model management (see comfy_memory_probe.py) as the stand-in's fixture.

Run from the root of a ComfyUI checkout, with ComfyUI's Python environment (any machine: the
probe runs on the CPU):
    cd ComfyUI && python <this repo>/tools/record_comfy_memory.py \
        > <this repo>/tests/fixtures/comfy_memory_0.3.64.json
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, os.getcwd())  # ComfyUI's root: comfy, comfyui_version
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
logging.disable(logging.INFO)

import comfy.options  # noqa: E402

comfy.options.enable_args_parsing()
sys.argv = [sys.argv[0], "--cpu"]  # the probe's devices are the CPU and meta

import comfy.model_management as model_management  # noqa: E402
import comfy.model_patcher as model_patcher  # noqa: E402
import comfy.ops as ops  # noqa: E402
from comfy_memory_probe import describe  # noqa: E402
from comfyui_version import __version__  # noqa: E402

record = describe(model_management, model_patcher, ops)
print(json.dumps({"comfyui": __version__, **record}, indent=1, sort_keys=True))
