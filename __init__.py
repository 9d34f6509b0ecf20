"""comfyui-audiogen: ComfyUI nodes for Dasheng-AudioGen (text -> speech, music, effects, ambience).

ComfyUI imports this file as a package named after its folder path and does not put the folder
on sys.path. The node modules are imported relatively (a top-level name ``nodes`` is ComfyUI's
own module); the model core is registered under its own name, ``audiogen_core``, because it is
also a standalone package (command line, tests) that imports itself absolutely.
"""

import importlib.util
import sys
from pathlib import Path


def _register_core() -> None:
    if "audiogen_core" in sys.modules:
        return
    init = Path(__file__).resolve().parent / "audiogen_core" / "__init__.py"
    spec = importlib.util.spec_from_file_location("audiogen_core", init)
    module = importlib.util.module_from_spec(spec)
    sys.modules["audiogen_core"] = module
    spec.loader.exec_module(module)


_register_core()

# The nodes use the V3 schema, so the package offers only ``comfy_entrypoint``: ComfyUI loads a
# module that also has NODE_CLASS_MAPPINGS the classic way and ignores the entry point.
from .nodes import comfy_entrypoint  # noqa: E402

WEB_DIRECTORY = "./web"

__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
