"""Read a UI-format workflow as ComfyUI does: check it, turn it into a prompt, execute it.

``check_workflow`` applies what the frontend and the server would reject or silently misread:
unknown node types, widget values that do not line up with the node's widgets (the frontend
adds a ``control_after_generate`` value after a seed INT; optional widgets a node gained after
the graph was saved may be missing and take their defaults), values of the wrong type or out of
range, inputs that do not exist, required inputs left open, and links whose ends disagree or
join incompatible types. ``to_prompt`` does the frontend's graph-to-prompt conversion and
``execute`` runs the prompt's output nodes and everything they depend on, in dependency order,
like ComfyUI's executor (without its cache): a V3 node (``comfy_api.latest.io.ComfyNode``) runs
on a per-run clone of its class and returns a ``NodeOutput``; a classic node is instantiated and
its FUNCTION called. Both kinds are read through their classic node info (``INPUT_TYPES``,
``RETURN_TYPES``), which is what ComfyUI sends the frontend.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
CONTROL = "control_after_generate"


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: str | list  # a list is a combo's choices
    options: dict
    required: bool

    @property
    def type_name(self) -> str:
        return "COMBO" if isinstance(self.type, list) else self.type

    @property
    def is_widget(self) -> bool:
        return (isinstance(self.type, list) or self.type in WIDGET_TYPES) and not self.options.get(
            "forceInput"
        )

    @property
    def has_control(self) -> bool:
        # The frontend's rule: the explicit flag, else INT inputs named seed / noise_seed.
        flag = self.options.get(CONTROL)
        return self.type == "INT" and (
            flag if flag is not None else self.name in ("seed", "noise_seed")
        )


def input_specs(node_class: type) -> list[InputSpec]:
    types = node_class.INPUT_TYPES()
    specs = []
    for section in ("required", "optional"):
        for name, spec in types.get(section, {}).items():
            options = spec[1] if len(spec) > 1 else {}
            kind = spec[0]
            if kind == "COMBO":  # V3 combos: ("COMBO", {"options": [...]})
                kind = list(options["options"])
            specs.append(InputSpec(name, kind, options, section == "required"))
    return specs


def registry_of(node_classes) -> dict[str, type]:
    """Node id -> class for V3 node classes, as ComfyUI registers an extension's nodes."""
    return {node.GET_SCHEMA().node_id: node for node in node_classes}


def widget_slots(node_class: type) -> list[InputSpec | None]:
    """The node's serialized widgets in order; None marks a control_after_generate value."""
    slots: list[InputSpec | None] = []
    for spec in input_specs(node_class):
        if spec.is_widget:
            slots.append(spec)
            if spec.has_control:
                slots.append(None)
    return slots


def output_names(node_class: type) -> list[str]:
    return list(getattr(node_class, "RETURN_NAMES", None) or node_class.RETURN_TYPES)


def types_compatible(output_type: str, input_type: str) -> bool:
    """ComfyUI's rule: equal, or comma-separated unions that share a type."""
    if output_type == input_type or "*" in (output_type, input_type):
        return True
    return bool(
        {t.strip() for t in output_type.split(",")} & {t.strip() for t in input_type.split(",")}
    )


@dataclass
class Problems:
    items: list[str] = field(default_factory=list)

    def add(self, where: str, text: str) -> None:
        self.items.append(f"{where}: {text}")


def _check_value(
    spec: InputSpec, value, where: str, problems: Problems, dynamic_combos: tuple[str, ...]
) -> None:
    options = spec.options
    if isinstance(spec.type, list):
        if spec.name in dynamic_combos:
            if not isinstance(value, str):
                problems.add(where, f"{spec.name}={value!r} is not a file name")
        elif value not in spec.type:
            problems.add(where, f"{spec.name}={value!r} is not one of {spec.type}")
        return
    kinds = {"INT": int, "FLOAT": (int, float), "STRING": str, "BOOLEAN": bool}
    if not isinstance(value, kinds[spec.type]) or (
        spec.type != "BOOLEAN" and isinstance(value, bool)
    ):
        problems.add(where, f"{spec.name}={value!r} is not a {spec.type}")
        return
    if spec.type in ("INT", "FLOAT"):
        low, high = options.get("min"), options.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            problems.add(where, f"{spec.name}={value!r} is outside [{low}, {high}]")


def _check_widgets(node: dict, node_class: type, where: str, problems: Problems) -> None:
    values = node.get("widgets_values", [])
    if not isinstance(values, list):
        problems.add(where, "widgets_values must be a list")
        return
    slots = widget_slots(node_class)
    extra = values[len(slots) :]
    frontend_only = getattr(node_class, "FRONTEND_WIDGETS", ())
    # A graph saved before optional widgets were appended lacks their values; the frontend
    # gives those widgets their defaults. Any other missing value misaligns the rest.
    if len(values) < len(slots) and any(s is None or s.required for s in slots[len(values) :]):
        problems.add(where, f"{len(values)} widget values for {len(slots)} widgets")
        return
    if len(extra) > len(frontend_only) and any(v is not None for v in extra):
        problems.add(where, f"{len(extra)} widget values more than the node has widgets")
    dynamic = getattr(node_class, "DYNAMIC_COMBOS", ())
    for spec, value in zip(slots, values, strict=False):
        if spec is None:
            if value not in CONTROL_VALUES:
                problems.add(
                    where,
                    f"control_after_generate={value!r} is not one of {sorted(CONTROL_VALUES)}",
                )
        else:
            _check_value(spec, value, where, problems, dynamic)


def _check_inputs(node: dict, node_class: type, where: str, problems: Problems) -> None:
    specs = {spec.name: spec for spec in input_specs(node_class)}
    seen = set()
    for entry in node.get("inputs", []):
        name = entry.get("widget", {}).get("name", entry["name"])
        spec = specs.get(name)
        if spec is None:
            problems.add(where, f"input {name!r} does not exist")
            continue
        seen.add(name)
        if "widget" in entry and not spec.is_widget:
            problems.add(where, f"input {name!r} is not a widget")
        if entry["type"] != spec.type_name:
            problems.add(
                where,
                f"input {name!r} has type {entry['type']!r}, the node says {spec.type_name!r}",
            )
    for spec in specs.values():
        linked = any(
            e.get("link") is not None and e["name"] == spec.name for e in node.get("inputs", [])
        )
        if spec.required and not spec.is_widget and not linked:
            problems.add(where, f"required input {spec.name!r} is not connected")


def _check_outputs(node: dict, node_class: type, where: str, problems: Problems) -> None:
    # A graph saved before an output was appended lists fewer outputs; the frontend keeps the
    # saved ones and adds the new ones after them, so links stay on their slots.
    declared = list(zip(output_names(node_class), node_class.RETURN_TYPES, strict=True))
    found = [(o["name"], o["type"]) for o in node.get("outputs", [])]
    if found != declared[: len(found)]:
        problems.add(where, f"outputs {found} differ from the node's {declared}")


def _check_links(workflow: dict, nodes: dict, registry: dict, problems: Problems) -> None:
    link_ids = set()
    for link in workflow["links"]:
        link_id, source, source_slot, target, target_slot, link_type = link
        where = f"link {link_id}"
        if link_id in link_ids:
            problems.add(where, "duplicate link id")
        link_ids.add(link_id)
        if source not in nodes or target not in nodes:
            problems.add(where, "joins a node that does not exist")
            continue
        source_class = registry.get(nodes[source]["type"])
        if source_class is None or source_slot >= len(source_class.RETURN_TYPES):
            problems.add(where, f"starts at missing output {source_slot}")
            continue
        output_type = source_class.RETURN_TYPES[source_slot]
        if link_type != output_type:
            problems.add(where, f"type {link_type!r} but the output gives {output_type!r}")
        outputs = nodes[source].get("outputs", [])
        if source_slot >= len(outputs) or link_id not in (outputs[source_slot].get("links") or []):
            problems.add(where, "is not listed on its output")
        inputs = nodes[target].get("inputs", [])
        if target_slot >= len(inputs) or inputs[target_slot].get("link") != link_id:
            problems.add(where, "is not the link of its target input slot")
            continue
        if not types_compatible(output_type, inputs[target_slot]["type"]):
            problems.add(where, f"joins {output_type} to {inputs[target_slot]['type']}")
    for node in nodes.values():
        for entry in node.get("inputs", []):
            if entry.get("link") is not None and entry["link"] not in link_ids:
                problems.add(f"node {node['id']}", f"input {entry['name']!r} names a missing link")
        for output in node.get("outputs", []):
            for link_id in output.get("links") or []:
                if link_id not in link_ids:
                    problems.add(
                        f"node {node['id']}", f"output {output['name']!r} names a missing link"
                    )


NODE_KEYS = ("id", "type", "pos", "size", "flags", "order", "mode", "properties")


# Nodes the frontend keeps to itself: never queued, so neither checked nor sent to the server.
FRONTEND_ONLY = {"Note", "MarkdownNote"}


def check_workflow(workflow: dict, registry: dict[str, type]) -> list[str]:
    """Every problem found, as 'where: what' strings (an empty list means the workflow is good)."""
    problems = Problems()
    for key in ("last_node_id", "last_link_id", "nodes", "links", "version"):
        if key not in workflow:
            problems.add("workflow", f"missing {key!r}")
    if problems.items:
        return problems.items
    nodes = {}
    for node in workflow["nodes"]:
        where = f"node {node.get('id')} ({node.get('type')})"
        missing = [k for k in NODE_KEYS if k not in node]
        if missing:
            problems.add(where, f"missing {missing}")
        if node["id"] in nodes:
            problems.add(where, "duplicate node id")
        nodes[node["id"]] = node
        if node["type"] in FRONTEND_ONLY:
            if node.get("inputs") or node.get("outputs"):
                problems.add(where, "a note has no inputs or outputs")
            continue
        node_class = registry.get(node["type"])
        if node_class is None:
            problems.add(where, "unknown node type")
            continue
        if node.get("mode") != 0:
            problems.add(where, f"mode {node.get('mode')} (muted or bypassed)")
        _check_widgets(node, node_class, where, problems)
        _check_inputs(node, node_class, where, problems)
        _check_outputs(node, node_class, where, problems)
    _check_links(workflow, nodes, registry, problems)
    if nodes and workflow["last_node_id"] < max(nodes):
        problems.add("workflow", "last_node_id is below the highest node id")
    if workflow["links"] and workflow["last_link_id"] < max(link[0] for link in workflow["links"]):
        problems.add("workflow", "last_link_id is below the highest link id")
    return problems.items


def to_prompt(workflow: dict, registry: dict[str, type]) -> dict[str, dict]:
    """The API prompt the frontend queues: widget values by name, links as [node, slot]."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY:
            continue
        node_class = registry[node["type"]]
        slots = widget_slots(node_class)
        # The frontend sends every widget; one missing from the saved graph has its default.
        values = node.get("widgets_values", [])
        inputs = {
            spec.name: value for spec, value in zip(slots, values, strict=False) if spec is not None
        }
        for spec in slots[len(values) :]:  # widgets the graph predates: their defaults
            inputs[spec.name] = spec.options["default"]
        for entry in node.get("inputs", []):
            if entry.get("link") is not None:
                link = links[entry["link"]]
                name = entry.get("widget", {}).get("name", entry["name"])
                inputs[name] = [str(link[1]), link[2]]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


@dataclass
class Run:
    outputs: dict[str, tuple]  # node id -> its result tuple
    ui: dict[str, dict]  # node id -> its ui payload
    order: list[str]


def execute(prompt: dict[str, dict], registry: dict[str, type]) -> Run:
    """Run the output nodes and their dependencies, each once, dependencies first."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(node_id: str) -> None:
        if node_id in order:
            return
        if node_id in visiting:
            raise ValueError(f"the graph has a cycle through node {node_id}")
        visiting.add(node_id)
        for value in prompt[node_id]["inputs"].values():
            if isinstance(value, list):
                visit(value[0])
        visiting.discard(node_id)
        order.append(node_id)

    for node_id, node in prompt.items():
        if getattr(registry[node["class_type"]], "OUTPUT_NODE", False):
            visit(node_id)

    run = Run(outputs={}, ui={}, order=order)
    for node_id in order:
        node = prompt[node_id]
        node_class = registry[node["class_type"]]
        kwargs = {
            name: run.outputs[value[0]][value[1]] if isinstance(value, list) else value
            for name, value in node["inputs"].items()
        }
        if hasattr(node_class, "PREPARE_CLASS_CLONE"):
            output = run_node(node_class, hidden={"PROMPT": prompt, "EXTRA_PNGINFO": {}}, **kwargs)
            if output.ui is not None:
                run.ui[node_id] = ui_of(output)
            result = output.result or ()
        else:
            result = getattr(node_class(), node_class.FUNCTION)(**kwargs)
            if isinstance(result, dict):
                if "ui" in result:
                    run.ui[node_id] = result["ui"]
                result = result.get("result", ())
        run.outputs[node_id] = tuple(result)
    return run


def run_node(node_class: type, *args, hidden: dict | None = None, **inputs):
    """Run a V3 node as ComfyUI's executor does: on a clone of its class, with hidden inputs."""
    clone = node_class.PREPARE_CLASS_CLONE(hidden or {})
    return getattr(clone, node_class.FUNCTION)(*args, **inputs)


def ui_of(output) -> dict:
    """The ui payload ComfyUI sends to the page for a NodeOutput."""
    return output.ui if isinstance(output.ui, dict) else output.ui.as_dict()
