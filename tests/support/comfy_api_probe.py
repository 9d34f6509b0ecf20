"""What the stand-in comfy_api.latest must match in ComfyUI's real one (test code only).

``describe(api)`` records, for the ``comfy_api.latest`` module given, the signatures of every
class and function the node pack calls, the Schema fields, the type names, and what a probe
node using each feature the pack uses looks like as classic node info (what the frontend gets).
tools/record_comfy_api.py runs it inside a ComfyUI checkout to write the fixture;
tests/node_pack/test_comfy_api_standin.py runs it on the stand-in and compares.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect

SIGNATURES = (
    "io.Input.__init__",
    "io.WidgetInput.__init__",
    "io.Output.__init__",
    "io.Boolean.Input.__init__",
    "io.Int.Input.__init__",
    "io.Float.Input.__init__",
    "io.String.Input.__init__",
    "io.Combo.Input.__init__",
    "io.MultiType.Input.__init__",
    "io.NodeOutput.__init__",
    "io.Custom",
    "ui.PreviewAudio.__init__",
    "ui.PreviewImage.__init__",
    "ui.PreviewText.__init__",
    "ComfyExtension.get_node_list",
    "ComfyExtension.on_load",
)
TYPES = (
    "Boolean",
    "Int",
    "Float",
    "String",
    "Combo",
    "Image",
    "Audio",
    "Video",
    "Model",
    "Conditioning",
    "Latent",
    "Sigmas",
    "Noise",
)


def _lookup(api, dotted: str):
    value = api
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _signature(function) -> list:
    return [
        [p.name, p.kind.name, None if p.default is p.empty else repr(p.default)]
        for p in inspect.signature(function).parameters.values()
    ]


def probe_node(api):
    """A V3 node using every schema feature the pack uses."""
    io = api.io
    custom = io.Custom("PROBE_TYPE")

    class Probe(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(
                node_id="Probe",
                display_name="Probe Node",
                category="probe",
                description="probe",
                inputs=[
                    custom.Input("thing", tooltip="t"),
                    io.MultiType.Input("either", types=[custom, io.String], tooltip="t"),
                    io.Combo.Input("choice", options=["a", "b"], default="b", tooltip="t"),
                    io.Int.Input(
                        "seed", default=0, min=0, max=2**64 - 1, control_after_generate=True
                    ),
                    io.Float.Input("x", default=0.5, min=0.0, max=1.0, step=0.01, tooltip="t"),
                    io.String.Input("text", multiline=True, default="", placeholder="p"),
                    io.Boolean.Input("flag", default=False),
                    io.Audio.Input("audio", optional=True),
                    io.Image.Input("images", optional=True),
                    io.Video.Input("video", optional=True),
                ],
                outputs=[
                    custom.Output(display_name="thing", tooltip="o"),
                    io.Audio.Output(display_name="audio"),
                    io.String.Output(),
                ],
                is_output_node=True,
            )

        @classmethod
        def execute(cls, **kwargs):
            return io.NodeOutput(kwargs.get("thing"), None, "s", ui=api.ui.PreviewText("shown"))

    return Probe


def describe(api) -> dict:
    probe = probe_node(api)
    info = probe.GET_NODE_INFO_V1()
    info.pop("python_module", None)
    clone = probe.PREPARE_CLASS_CLONE({})
    output = getattr(clone, probe.FUNCTION)(thing="T")
    return {
        "signatures": {name: _signature(_lookup(api, name)) for name in SIGNATURES},
        "coroutines": {
            name: inspect.iscoroutinefunction(_lookup(api, name))
            for name in ("ComfyExtension.get_node_list", "ComfyExtension.on_load")
        },
        "schema_fields": [
            [f.name, None if f.default is dataclasses.MISSING else repr(f.default)]
            for f in dataclasses.fields(api.io.Schema)
        ],
        "io_types": {name: str(getattr(api.io, name).io_type) for name in TYPES},
        "hidden": {h.name: h.value for h in api.io.Hidden},
        "probe_info": info,
        "probe_class": {
            "RETURN_TYPES": [str(t) for t in probe.RETURN_TYPES],
            "RETURN_NAMES": list(probe.RETURN_NAMES),
            "OUTPUT_NODE": probe.OUTPUT_NODE,
            "NOT_IDEMPOTENT": probe.NOT_IDEMPOTENT,
            "INPUT_TYPES_without_hidden": sorted(probe.INPUT_TYPES(include_hidden=False)),
        },
        "probe_output": {
            "result": list(output.result),
            "ui": output.ui.as_dict(),
        },
        "extension_is_abstract": inspect.isabstract(api.ComfyExtension),
        "entrypoint_style": asyncio.iscoroutinefunction(api.ComfyExtension.get_node_list),
    }
