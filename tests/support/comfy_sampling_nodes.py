"""ComfyUI's sampling nodes as the workflow checker sees them: inputs and outputs only.

Recorded from ComfyUI 0.3.64 (record_comfy_sampling_nodes.py) into
tests/fixtures/comfy_sampling_nodes_0.3.64.json. These classes cannot run: the workflows that
use them run in a real ComfyUI (tests/comfyui).
"""

from __future__ import annotations

import json
from pathlib import Path

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "comfy_sampling_nodes_0.3.64.json"


def sampling_node_interfaces() -> dict[str, type]:
    """Node type -> a class with ComfyUI's INPUT_TYPES, RETURN_TYPES and RETURN_NAMES."""
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))["nodes"]
    classes = {}
    for name, info in recorded.items():
        inputs = info["input"]
        classes[name] = type(
            name,
            (),
            {
                "INPUT_TYPES": classmethod(lambda cls, inputs=inputs: inputs),
                "RETURN_TYPES": tuple(info["output"]),
                "RETURN_NAMES": tuple(info["output_name"]),
            },
        )
    return classes
