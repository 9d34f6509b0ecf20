"""The native sampling checks run inside a real ComfyUI: its samplers, guiders and patches.

They need a ComfyUI checkout (``AUDIOGEN_COMFYUI_DIR``) and run alone, in ComfyUI's Python
environment, through run_native_checks.sh: ComfyUI's own top-level ``nodes`` and
``comfy_api`` must be the ones imported, which the stand-ins of the other node tests replace.
Without the variable (CI) every test here is skipped with that reason.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMFYUI_DIR = os.environ.get("AUDIOGEN_COMFYUI_DIR")
NOT_SET = (
    "needs a real ComfyUI: run tests/comfyui/run_native_checks.sh with AUDIOGEN_COMFYUI_DIR "
    "set to a ComfyUI checkout, in ComfyUI's Python environment"
)


def _conflict() -> str | None:
    """Why ComfyUI's own modules cannot be imported in this session, if they cannot."""
    ours = sys.modules.get("nodes")
    if ours is not None and hasattr(ours, "__path__"):
        return "the pack's nodes package is imported in this session: run tests/comfyui alone"
    api = sys.modules.get("comfy_api")
    if api is not None and not str(getattr(api, "__file__", "")).startswith(COMFYUI_DIR):
        return "the stand-in comfy_api is imported in this session: run tests/comfyui alone"
    return None


@pytest.fixture(scope="session")
def comfyui() -> SimpleNamespace:
    """ComfyUI's modules (CPU), and the pack imported as ComfyUI imports a custom node."""
    if not COMFYUI_DIR:
        pytest.skip(NOT_SET)
    reason = _conflict()
    if reason:
        pytest.skip(reason)
    sys.path.insert(0, COMFYUI_DIR)
    import comfy.options

    comfy.options.enable_args_parsing(False)
    from comfy.cli_args import args

    args.cpu = True
    import comfy.model_management
    import comfy_extras.nodes_apg
    import comfy_extras.nodes_cfg
    import comfy_extras.nodes_custom_sampler
    import comfy_extras.nodes_easycache
    import comfy_extras.nodes_latent
    import comfy_extras.nodes_model_advanced
    import comfy_extras.nodes_torch_compile

    import nodes as comfy_nodes

    spec = importlib.util.spec_from_file_location(
        "audiogen_pack", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    pack = importlib.util.module_from_spec(spec)
    sys.modules["audiogen_pack"] = pack
    spec.loader.exec_module(pack)
    return SimpleNamespace(
        mm=comfy.model_management,
        custom=comfy_extras.nodes_custom_sampler,
        apg=comfy_extras.nodes_apg,
        cfg=comfy_extras.nodes_cfg,
        easycache=comfy_extras.nodes_easycache,
        latent=comfy_extras.nodes_latent,
        advanced=comfy_extras.nodes_model_advanced,
        compile=comfy_extras.nodes_torch_compile,
        nodes=comfy_nodes,
        pack=pack,
    )
