"""The AudioGen node pack: node classes by id, their display names, the model folder key.

Thin adapters over ``audiogen_core``: each module translates widgets and ComfyUI types into
core calls and back. ``comfy_compat`` is the only place that talks to ComfyUI itself.
"""

from __future__ import annotations

from . import codec, generation, loaders, mixer, model_paths, prompt_nodes, video

_MODULES = (loaders, prompt_nodes, generation, codec, mixer, video)

NODE_CLASS_MAPPINGS = {node.__name__: node for module in _MODULES for node in module.NODES}
NODE_DISPLAY_NAME_MAPPINGS = {name: node.DISPLAY_NAME for name, node in NODE_CLASS_MAPPINGS.items()}

model_paths.register_model_folder()
