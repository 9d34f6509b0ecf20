"""Every node follows ComfyUI's classic node API and the pack's conventions."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

ROOT = Path(__file__).resolve().parents[2]
NODE_IDS = sorted(NODE_CLASS_MAPPINGS)
EXPECTED_IDS = {
    "AudioGenModelLoader",
    "AudioGenTextEncoderLoader",
    "AudioGenAudioTokenizerLoader",
    "AudioGenCaptionComposer",
    "AudioGenCaptionParser",
    "AudioGenTextEncode",
    "AudioGenSampler",
    "AudioGenDecode",
    "AudioGenEncode",
    "AudioGenMixLayer",
    "AudioGenMixer",
    "AudioGenDurationFromVideo",
}


def test_the_pack_registers_every_node_with_a_display_name():
    assert set(NODE_CLASS_MAPPINGS) == EXPECTED_IDS
    assert set(NODE_DISPLAY_NAME_MAPPINGS) == EXPECTED_IDS
    assert all(name.startswith("AudioGen") for name in NODE_DISPLAY_NAME_MAPPINGS.values())


@pytest.mark.parametrize("node_id", NODE_IDS)
def test_node_follows_the_classic_api(node_id):
    node = NODE_CLASS_MAPPINGS[node_id]
    assert node.CATEGORY == "audio/AudioGen"
    assert node.DESCRIPTION.strip()
    assert callable(getattr(node, node.FUNCTION))
    assert len(node.RETURN_NAMES) == len(node.RETURN_TYPES) == len(node.OUTPUT_TOOLTIPS)
    inputs = node.INPUT_TYPES()
    assert set(inputs) <= {"required", "optional", "hidden"}
    for section in inputs.values():
        for name, spec in section.items():
            assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
            assert len(spec) == 2 and spec[1].get("tooltip", "").strip(), f"{name} has no tooltip"


@pytest.mark.parametrize("node_id", NODE_IDS)
def test_numeric_defaults_lie_in_their_range(node_id):
    for section in NODE_CLASS_MAPPINGS[node_id].INPUT_TYPES().values():
        for name, (kind, options) in section.items():
            if isinstance(kind, list):
                assert options.get("default", kind[0]) in kind, name
            elif kind in ("INT", "FLOAT"):
                assert options["min"] <= options["default"] <= options["max"], name


LOAD_LIKE_COMFYUI = """
import importlib.util, json, sys, types
sys.modules["nodes"] = types.ModuleType("nodes")  # ComfyUI's own nodes.py is loaded first
root = sys.argv[1]
name = root.replace(".", "_x_")
spec = importlib.util.spec_from_file_location(name, root + "/__init__.py")
module = importlib.util.module_from_spec(spec)
sys.modules[name] = module
spec.loader.exec_module(module)
print(json.dumps({"ids": sorted(module.NODE_CLASS_MAPPINGS), "web": module.WEB_DIRECTORY,
                  "names": module.NODE_DISPLAY_NAME_MAPPINGS,
                  "comfy_nodes_kept": not hasattr(sys.modules["nodes"], "__path__")}))
"""


def test_root_package_loads_the_way_comfyui_imports_it(tmp_path):
    # A fresh interpreter outside the repository, as ComfyUI: the folder is not on sys.path.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", LOAD_LIKE_COMFYUI, str(ROOT)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    loaded = json.loads(out.splitlines()[-1])
    assert set(loaded["ids"]) == EXPECTED_IDS
    assert loaded["names"] == NODE_DISPLAY_NAME_MAPPINGS
    assert loaded["comfy_nodes_kept"]
    web = ROOT / loaded["web"]
    assert sorted(p.name for p in web.glob("*.js")) == ["audiogen.js"]


def test_web_extension_targets_existing_nodes():
    script = (ROOT / "web" / "audiogen.js").read_text(encoding="utf-8")
    assert 'from "../../scripts/app.js"' in script
    named = set(re.findall(r'"(AudioGen[A-Za-z]+)"', script))
    assert named and named <= EXPECTED_IDS
    # Nodes that return ui.audio need ComfyUI's player; nodes that return ui.text need the box.
    assert "AUDIO_UI" in script and '"AudioGenMixer"' in script
    for node_id in ("AudioGenTextEncode", "AudioGenSampler", "AudioGenDurationFromVideo"):
        assert f'"{node_id}"' in script
