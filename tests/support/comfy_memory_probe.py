"""What the stand-in model management must match in ComfyUI's real one (test code only).

``describe(model_management, model_patcher, ops)`` records the signatures the pack and the
stand-in rely on, and what a ModelPatcher does to a small model built from ``ops``: the
attributes it writes on the module, a partial (low-VRAM) load that has room for one layer, a
complete load, and a full unload to the meta device. tools/record_comfy_memory.py runs it inside
a ComfyUI checkout to write tests/fixtures/comfy_memory_0.3.64.json;
tests/node_pack/test_comfy_api_standin.py runs it on the stand-in and compares.
"""

from __future__ import annotations

import inspect

import torch

SIGNATURES = (
    "model_management.load_models_gpu",
    "model_patcher.ModelPatcher.__init__",
    "model_patcher.ModelPatcher.load",
    "model_patcher.ModelPatcher.partially_load",
    "model_patcher.ModelPatcher.unpatch_model",
    "model_patcher.ModelPatcher.detach",
    "model_patcher.ModelPatcher.model_size",
    "model_patcher.ModelPatcher.loaded_size",
    "model_patcher.ModelPatcher.current_loaded_device",
)
WRITTEN = (
    "device",
    "model_loaded_weight_memory",
    "lowvram_patch_counter",
    "model_lowvram",
    "current_weight_patches_uuid",
)


class _Probe(torch.nn.Module):
    def __init__(self, ops) -> None:
        super().__init__()
        self.big = ops.Linear(16, 32)
        self.small = ops.Linear(32, 4)
        self.norm = ops.LayerNorm(32)
        self.scale = torch.nn.Parameter(torch.ones(4))  # a non-leaf module's own parameter


def _state(model: torch.nn.Module) -> dict:
    written = {}
    for name in WRITTEN:
        value = getattr(model, name, "(absent)")
        if name == "current_weight_patches_uuid" and value not in (None, "(absent)"):
            value = "(a uuid)"
        written[name] = str(value)
    layers = {
        name: {
            "casts": bool(module.comfy_cast_weights),
            "prev": str(getattr(module, "prev_comfy_cast_weights", "(absent)")),
            "device": str(module.weight.device),
        }
        for name, module in model.named_children()
    }
    return {"written": written, "layers": layers, "scale": str(model.scale.device)}


def describe(model_management, model_patcher, ops) -> dict:
    comfy = {"model_management": model_management, "model_patcher": model_patcher}
    signatures = {}
    for dotted in SIGNATURES:
        value = comfy[dotted.split(".")[0]]
        for part in dotted.split(".")[1:]:
            value = getattr(value, part)
        signatures[dotted] = str(inspect.signature(value))

    cpu = torch.device("cpu")
    record = {"signatures": signatures, "cast_flags": {}}
    for set_name in ("disable_weight_init", "manual_cast"):
        layer_set = getattr(ops, set_name)
        record["cast_flags"][set_name] = {
            name: getattr(layer_set, name).comfy_cast_weights
            for name in ("Linear", "Conv1d", "Conv2d", "ConvTranspose1d", "LayerNorm", "Embedding")
        }

    model = _Probe(ops.disable_weight_init)
    patcher = model_patcher.ModelPatcher(model, load_device=cpu, offload_device=cpu)
    record["model_size"] = patcher.model_size()
    record["created"] = _state(model)
    # Room for the biggest layer only (ComfyUI loads the biggest first).
    room = sum(t.numel() * t.element_size() for t in model.big.state_dict().values()) + 1
    record["partial_loaded"] = patcher.partially_load(cpu, room)
    record["partial"] = _state(model)
    record["partial_loaded_size"] = patcher.loaded_size()
    record["full_loaded"] = patcher.partially_load(cpu, 1e32)
    record["full"] = _state(model)
    patcher.unpatch_model(device_to=torch.device("meta"))
    record["unloaded"] = _state(model)
    record["current_loaded_device"] = str(patcher.current_loaded_device())
    return record
