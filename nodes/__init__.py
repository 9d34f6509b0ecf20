"""The AudioGen node pack as a ComfyUI extension (V3 node schema), and the model folder key.

Thin adapters over ``audiogen_core``: each module declares its nodes' schemas and translates
widgets and ComfyUI types into core calls and back. ``comfy_compat`` is the only place that
talks to ComfyUI's model management, folders and progress.
"""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from . import (
    codec,
    editing,
    generation,
    loaders,
    mixer,
    model_paths,
    prompt_nodes,
    routes,
    timeline_nodes,
    video,
    view,
)
from .native import native_nodes

_MODULES = (
    loaders,
    prompt_nodes,
    generation,
    timeline_nodes,
    codec,
    editing,
    mixer,
    video,
    view,
    native_nodes,
)

NODES: list[type[io.ComfyNode]] = [node for module in _MODULES for node in module.NODES]


class AudioGenExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)


async def comfy_entrypoint() -> AudioGenExtension:
    return AudioGenExtension()


# ComfyUI 0.3.64 does not call ComfyExtension.on_load, and the loaders list their folders
# when ComfyUI reads their schemas, so the model folder key is registered at import.
model_paths.register_model_folder()
# Routes are served only if added before ComfyUI's server starts, i.e. while it imports us.
routes.register_with_comfyui()
