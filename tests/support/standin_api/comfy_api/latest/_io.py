"""Stand-in for ``comfy_api.latest.io`` (ComfyUI 0.3.64): types, inputs, outputs, schema, node.

Behaviour mirrored from ComfyUI (what the node pack and its tests rely on):
- an input's classic spec is ``(io_type, options)`` where the options drop ``None`` values
  and ``optional``; combos are ``("COMBO", {"options": [...]})``; a MultiType input's type
  is its types joined with commas;
- an output without an id gets ``_<index>_<io_type>_``; its classic name is its display
  name, else its type;
- ids must be unique across inputs and outputs;
- an output node gets the hidden PROMPT and EXTRA_PNGINFO inputs;
- ``execute`` is a classmethod run on a fresh clone of the class whose ``hidden`` holds the
  hidden inputs; a returned tuple or dict is turned into a ``NodeOutput``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


def _pruned(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


class classproperty:
    def __init__(self, f):
        self.f = f

    def __get__(self, obj, owner):
        return self.f(owner)


class FolderType(str, Enum):
    input = "input"
    output = "output"
    temp = "temp"


class UploadType(str, Enum):
    image = "image_upload"
    audio = "audio_upload"
    video = "video_upload"
    model = "file_upload"


class NumberDisplay(str, Enum):
    number = "number"
    slider = "slider"


# --------------------------------------------------------------------------- inputs, outputs


class Input:
    Parent: type = None

    def __init__(
        self,
        id: str,
        display_name: str = None,
        optional=False,
        tooltip: str = None,
        lazy: bool = None,
        extra_dict=None,
    ):
        self.id = id
        self.display_name = display_name
        self.optional = optional
        self.tooltip = tooltip
        self.lazy = lazy
        self.extra_dict = extra_dict if extra_dict is not None else {}

    def as_dict(self) -> dict:
        base = {
            "display_name": self.display_name,
            "optional": self.optional,
            "tooltip": self.tooltip,
            "lazy": self.lazy,
        }
        return _pruned(base) | _pruned(self.extra_dict)

    def get_io_type(self) -> str:
        return self.Parent.io_type


class WidgetInput(Input):
    def __init__(
        self,
        id: str,
        display_name: str = None,
        optional=False,
        tooltip: str = None,
        lazy: bool = None,
        default: Any = None,
        socketless: bool = None,
        widget_type: str = None,
        force_input: bool = None,
        extra_dict=None,
    ):
        super().__init__(id, display_name, optional, tooltip, lazy, extra_dict)
        self.default = default
        self.socketless = socketless
        self.widget_type = widget_type
        self.force_input = force_input

    def as_dict(self) -> dict:
        return super().as_dict() | _pruned(
            {
                "default": self.default,
                "socketless": self.socketless,
                "widgetType": self.widget_type,
                "forceInput": self.force_input,
            }
        )

    def get_io_type(self) -> str:
        return self.widget_type if self.widget_type is not None else super().get_io_type()


class Output:
    Parent: type = None

    def __init__(
        self,
        id: str = None,
        display_name: str = None,
        tooltip: str = None,
        is_output_list=False,
    ):
        self.id = id
        self.display_name = display_name
        self.tooltip = tooltip
        self.is_output_list = is_output_list

    @property
    def io_type(self) -> str:
        return self.Parent.io_type

    def get_io_type(self) -> str:
        return self.io_type


def _comfy_type(io_type: str, input_class: type = Input, output: bool = True) -> type:
    """A type holder with its own Input (and Output) classes bound to ``io_type``."""
    holder = type(io_type.title(), (), {"io_type": io_type})
    holder.Input = type("Input", (input_class,), {"Parent": holder})
    if output:
        holder.Output = type("Output", (Output,), {"Parent": holder})
    return holder


def Custom(io_type: str) -> type:
    return _comfy_type(io_type)


class _BooleanInput(WidgetInput):
    def __init__(
        self,
        id: str,
        display_name: str = None,
        optional=False,
        tooltip: str = None,
        lazy: bool = None,
        default: bool = None,
        label_on: str = None,
        label_off: str = None,
        socketless: bool = None,
        force_input: bool = None,
    ):
        super().__init__(
            id, display_name, optional, tooltip, lazy, default, socketless, None, force_input
        )
        self.label_on = label_on
        self.label_off = label_off

    def as_dict(self) -> dict:
        return super().as_dict() | _pruned({"label_on": self.label_on, "label_off": self.label_off})


class _IntInput(WidgetInput):
    def __init__(
        self,
        id: str,
        display_name: str = None,
        optional=False,
        tooltip: str = None,
        lazy: bool = None,
        default: int = None,
        min: int = None,
        max: int = None,
        step: int = None,
        control_after_generate: bool = None,
        display_mode: NumberDisplay = None,
        socketless: bool = None,
        force_input: bool = None,
    ):
        super().__init__(
            id, display_name, optional, tooltip, lazy, default, socketless, None, force_input
        )
        self.min, self.max, self.step = min, max, step
        self.control_after_generate = control_after_generate
        self.display_mode = display_mode

    def as_dict(self) -> dict:
        return super().as_dict() | _pruned(
            {
                "min": self.min,
                "max": self.max,
                "step": self.step,
                "control_after_generate": self.control_after_generate,
                "display": self.display_mode.value if self.display_mode else None,
            }
        )


class _FloatInput(WidgetInput):
    def __init__(
        self,
        id: str,
        display_name: str = None,
        optional=False,
        tooltip: str = None,
        lazy: bool = None,
        default: float = None,
        min: float = None,
        max: float = None,
        step: float = None,
        round: float = None,
        display_mode: NumberDisplay = None,
        socketless: bool = None,
        force_input: bool = None,
    ):
        super().__init__(
            id, display_name, optional, tooltip, lazy, default, socketless, None, force_input
        )
        self.min, self.max, self.step, self.round = min, max, step, round
        self.display_mode = display_mode

    def as_dict(self) -> dict:
        return super().as_dict() | _pruned(
            {
                "min": self.min,
                "max": self.max,
                "step": self.step,
                "round": self.round,
                "display": self.display_mode,
            }
        )


class _StringInput(WidgetInput):
    def __init__(
        self,
        id: str,
        display_name: str = None,
        optional=False,
        tooltip: str = None,
        lazy: bool = None,
        multiline=False,
        placeholder: str = None,
        default: str = None,
        dynamic_prompts: bool = None,
        socketless: bool = None,
        force_input: bool = None,
    ):
        super().__init__(
            id, display_name, optional, tooltip, lazy, default, socketless, None, force_input
        )
        self.multiline = multiline
        self.placeholder = placeholder
        self.dynamic_prompts = dynamic_prompts

    def as_dict(self) -> dict:
        return super().as_dict() | _pruned(
            {
                "multiline": self.multiline,
                "placeholder": self.placeholder,
                "dynamicPrompts": self.dynamic_prompts,
            }
        )


class _ComboInput(WidgetInput):
    def __init__(
        self,
        id: str,
        options: list = None,
        display_name: str = None,
        optional=False,
        tooltip: str = None,
        lazy: bool = None,
        default: Any = None,
        control_after_generate: bool = None,
        upload: UploadType = None,
        image_folder: FolderType = None,
        remote: Any = None,
        socketless: bool = None,
    ):
        if isinstance(options, type) and issubclass(options, Enum):
            options = [v.value for v in options]
        if isinstance(default, Enum):
            default = default.value
        super().__init__(id, display_name, optional, tooltip, lazy, default, socketless)
        self.multiselect = False
        self.options = options
        self.control_after_generate = control_after_generate
        self.upload = upload
        self.image_folder = image_folder
        self.remote = remote

    def as_dict(self) -> dict:
        return super().as_dict() | _pruned(
            {
                "multiselect": self.multiselect,
                "options": self.options,
                "control_after_generate": self.control_after_generate,
                **({self.upload.value: True} if self.upload is not None else {}),
                "image_folder": self.image_folder.value if self.image_folder else None,
                "remote": self.remote.as_dict() if self.remote else None,
            }
        )


Boolean = _comfy_type("BOOLEAN", _BooleanInput)
Int = _comfy_type("INT", _IntInput)
Float = _comfy_type("FLOAT", _FloatInput)
String = _comfy_type("STRING", _StringInput)
Combo = _comfy_type("COMBO", _ComboInput)
Image = _comfy_type("IMAGE")
Audio = _comfy_type("AUDIO")
Video = _comfy_type("VIDEO")
# What ComfyUI's own samplers take and give (the native sampling nodes).
Model = _comfy_type("MODEL")
Conditioning = _comfy_type("CONDITIONING")
Latent = _comfy_type("LATENT")
Sigmas = _comfy_type("SIGMAS")
Noise = _comfy_type("NOISE")


class MultiType:
    io_type = "COMFY_MULTITYPED_V3"

    class Input(Input):
        def __init__(
            self,
            id: str | Input,
            types: list,
            display_name: str = None,
            optional=False,
            tooltip: str = None,
            lazy: bool = None,
            extra_dict=None,
        ):
            if isinstance(id, Input):
                raise NotImplementedError("the stand-in takes a plain input id")
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict)
            self._io_types = types

        def get_io_type(self) -> str:
            return ",".join(dict.fromkeys(t.io_type for t in self._io_types))


# --------------------------------------------------------------------------- hidden inputs


class Hidden(str, Enum):
    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"
    dynprompt = "DYNPROMPT"
    auth_token_comfy_org = "AUTH_TOKEN_COMFY_ORG"
    api_key_comfy_org = "API_KEY_COMFY_ORG"


class HiddenHolder:
    def __init__(self, values: dict | None = None) -> None:
        values = values or {}
        for hidden in Hidden:
            setattr(self, hidden.name, values.get(hidden))


# --------------------------------------------------------------------------- schema, node


@dataclass
class Schema:
    node_id: str
    display_name: str = None
    category: str = "sd"
    inputs: list = None
    outputs: list = None
    hidden: list = None
    description: str = ""
    is_input_list: bool = False
    is_output_node: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False
    enable_expand: bool = False

    def validate(self) -> None:
        inputs = [i.id for i in self.inputs or []]
        outputs = [o.id for o in self.outputs or []]
        problems = []
        if len(set(inputs)) != len(inputs):
            problems.append(f"Input ids must be unique: {inputs}")
        if len(set(outputs)) != len(outputs):
            problems.append(f"Output ids must be unique: {outputs}")
        if set(inputs) & set(outputs):
            problems.append(f"Ids must be unique between inputs and outputs: {inputs} {outputs}")
        if problems:
            raise ValueError("\n".join(problems))

    def finalize(self) -> None:
        if self.is_output_node:
            self.hidden = list(self.hidden or [])
            for hidden in (Hidden.prompt, Hidden.extra_pnginfo):
                if hidden not in self.hidden:
                    self.hidden.append(hidden)
        for index, output in enumerate(self.outputs or []):
            if output.id is None:
                output.id = f"_{index}_{output.io_type}_"

    def v1_inputs(self) -> dict:
        inputs: dict = {"required": {}}
        for item in self.inputs or []:
            options = item.as_dict()
            options.pop("optional", None)
            section = "optional" if item.optional else "required"
            inputs.setdefault(section, {})[item.id] = (item.get_io_type(), options)
        for hidden in self.hidden or []:
            inputs.setdefault("hidden", {})[hidden.name] = (hidden.value,)
        return inputs


class NodeOutput:
    def __init__(
        self, *args: Any, ui: Any = None, expand: dict = None, block_execution: str = None
    ):
        self.args = args
        self.ui = ui
        self.expand = expand
        self.block_execution = block_execution

    @property
    def result(self):
        return self.args if len(self.args) > 0 else None

    def __getitem__(self, index) -> Any:
        return self.args[index]


class ComfyNode:
    hidden: HiddenHolder = None
    SCHEMA: Schema = None
    FUNCTION = "EXECUTE_NORMALIZED"

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError

    @classmethod
    def execute(cls, **kwargs) -> NodeOutput:
        raise NotImplementedError

    @classmethod
    def GET_SCHEMA(cls) -> Schema:
        schema = cls.define_schema()
        schema.finalize()
        schema.validate()
        return schema

    @classmethod
    def INPUT_TYPES(cls, include_hidden=True, return_schema=False):
        schema = cls.GET_SCHEMA()
        inputs = schema.v1_inputs()
        if not include_hidden:
            inputs.pop("hidden", None)
        return (inputs, schema) if return_schema else inputs

    @classmethod
    def GET_NODE_INFO_V1(cls) -> dict:
        schema = cls.GET_SCHEMA()
        inputs = schema.v1_inputs()
        outputs = schema.outputs or []
        return {
            "input": inputs,
            "input_order": {section: list(names) for section, names in inputs.items()},
            "output": [o.io_type for o in outputs],
            "output_is_list": [o.is_output_list for o in outputs],
            "output_name": [o.display_name or o.io_type for o in outputs],
            "output_tooltips": [o.tooltip for o in outputs],
            "name": schema.node_id,
            "display_name": schema.display_name,
            "description": schema.description,
            "python_module": "custom_nodes.comfyui-audiogen",
            "category": schema.category,
            "output_node": schema.is_output_node,
            "deprecated": schema.is_deprecated,
            "experimental": schema.is_experimental,
            "api_node": schema.is_api_node,
        }

    @classproperty
    def RETURN_TYPES(cls):  # noqa: N802
        return [o.io_type for o in cls.GET_SCHEMA().outputs or []]

    @classproperty
    def RETURN_NAMES(cls):  # noqa: N802
        return [o.display_name or o.io_type for o in cls.GET_SCHEMA().outputs or []]

    @classproperty
    def OUTPUT_NODE(cls):  # noqa: N802
        return cls.GET_SCHEMA().is_output_node

    @classproperty
    def NOT_IDEMPOTENT(cls):  # noqa: N802
        return cls.GET_SCHEMA().not_idempotent

    @classproperty
    def DESCRIPTION(cls):  # noqa: N802
        return cls.GET_SCHEMA().description

    @classproperty
    def CATEGORY(cls):  # noqa: N802
        return cls.GET_SCHEMA().category

    @classmethod
    def PREPARE_CLASS_CLONE(cls, hidden_inputs: dict) -> type:
        clone = type(f"{cls.__name__}Clone", (cls,), {})
        clone.hidden = HiddenHolder(hidden_inputs)
        clone.SCHEMA = cls.GET_SCHEMA()
        return clone

    @classmethod
    def EXECUTE_NORMALIZED(cls, *args, **kwargs) -> NodeOutput:
        result = cls.execute(*args, **kwargs)
        if result is None:
            return NodeOutput()
        if isinstance(result, NodeOutput):
            return result
        if isinstance(result, tuple):
            return NodeOutput(*result)
        raise TypeError(f"Invalid return type from node: {type(result)}")
