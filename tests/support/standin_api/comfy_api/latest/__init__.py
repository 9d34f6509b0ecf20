"""Stand-in for ``comfy_api.latest`` of ComfyUI 0.3.64: ``io``, ``ui``, ``ComfyExtension``.

Only what the node pack touches, written from the behaviour of ComfyUI's own module: node
classes declare an ``io.Schema``; the schema gives the classic (V1) node info the server
sends to the frontend (``INPUT_TYPES``, ``RETURN_TYPES``, ...); ``EXECUTE_NORMALIZED`` runs
``execute`` on a per-run clone of the class. Parameter names and defaults are checked
against ComfyUI's real signatures by tests/node_pack/test_comfy_api_standin.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from . import _io as io
from . import _ui as ui


class ComfyExtension(ABC):
    async def on_load(self) -> None:  # noqa: B027 (optional hook, as in ComfyUI)
        """Called once when ComfyUI loads the extension."""

    @abstractmethod
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        """The node classes of the extension."""


__all__ = ["ComfyExtension", "io", "ui"]
