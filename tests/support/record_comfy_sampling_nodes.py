"""Record the interfaces of ComfyUI's sampling nodes that the shipped workflows use.

The workflow checker (workflow_graph.check_workflow) needs each node's inputs and outputs; CI
has no ComfyUI, so they are read from a real one. Run from the root of a ComfyUI checkout,
with ComfyUI's Python environment:
    cd ComfyUI && python <this repo>/tests/support/record_comfy_sampling_nodes.py \
        > <this repo>/tests/fixtures/comfy_sampling_nodes_0.3.64.json
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.getcwd())  # ComfyUI's root

import comfy.options  # noqa: E402

comfy.options.enable_args_parsing(False)
from comfy.cli_args import args  # noqa: E402

args.cpu = True  # the interfaces do not depend on the device; this runs without a GPU

import comfy_extras.nodes_custom_sampler as custom  # noqa: E402
from comfyui_version import __version__  # noqa: E402

NODES = ("SamplerCustomAdvanced", "CFGGuider", "KSamplerSelect", "BasicScheduler")

recorded = {}
for name in NODES:
    node = getattr(custom, name)
    recorded[name] = {
        "input": node.INPUT_TYPES(),
        "output": list(node.RETURN_TYPES),
        "output_name": list(getattr(node, "RETURN_NAMES", None) or node.RETURN_TYPES),
    }
# Not sorted: the order of the inputs is the order of the widget values in a saved graph.
print(json.dumps({"comfyui": __version__, "nodes": recorded}, indent=1))
