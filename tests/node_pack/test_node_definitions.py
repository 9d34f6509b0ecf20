"""Every node is a V3 node, and what ComfyUI tells the frontend about it is what 0.1.0 said.

tests/fixtures/object_info_0.1.0.json is ComfyUI 0.3.64's ``/object_info`` for the pack's nodes
as version 0.1.0 (classic node API) served them. Saved graphs store widget values by position
and links by slot, so ids, input names and order, types, defaults, ranges and outputs must stay
as they were; only the V3 spelling of a combo (``("COMBO", {"options": [...]})``) differs.
Nodes may be added, outputs appended after the old ones (links keep their slots), and a node
may gain optional inputs after all of its old ones (the frontend fills a widget missing from a
saved graph with its default).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from comfy_api.latest import ComfyExtension, io

import nodes
from nodes import NODES

ROOT = Path(__file__).resolve().parents[2]
STANDIN_API = Path(__file__).resolve().parents[1] / "support" / "standin_api"
BEFORE = json.loads((ROOT / "tests" / "fixtures" / "object_info_0.1.0.json").read_text())
NODE_INFO = {node.GET_SCHEMA().node_id: node.GET_NODE_INFO_V1() for node in NODES}
NODE_IDS = sorted(NODE_INFO)
# Options whose values a saved graph or the server's validation depend on.
KEPT_OPTIONS = (
    "default",
    "min",
    "max",
    "step",
    "multiline",
    "control_after_generate",
    "forceInput",
)


def test_the_extension_lists_every_node_of_0_1_0_once_and_the_new_ones():
    extension = asyncio.run(nodes.comfy_entrypoint())
    assert isinstance(extension, ComfyExtension)
    listed = asyncio.run(extension.get_node_list())
    assert all(issubclass(node, io.ComfyNode) for node in listed)
    listed_ids = sorted(node.GET_SCHEMA().node_id for node in listed)
    assert listed_ids == NODE_IDS and len(set(listed_ids)) == len(listed_ids)
    assert set(BEFORE) <= set(NODE_IDS)


def _classic(spec: list) -> tuple:
    """(type or combo choices, the options that matter) of a classic input spec."""
    kind, options = spec[0], dict(spec[1]) if len(spec) > 1 else {}
    if kind == "COMBO":
        kind = options["options"]
    return kind, {k: options[k] for k in KEPT_OPTIONS if k in options}


@pytest.mark.parametrize("node_id", sorted(BEFORE))
def test_node_interface_is_unchanged_since_0_1_0(node_id):
    before, now = BEFORE[node_id], NODE_INFO[node_id]
    for key in ("display_name", "category", "output_node"):
        assert now[key] == before[key], key
    for key in ("output", "output_name"):
        assert now[key][: len(before[key])] == before[key], key
    for section in ("required", "optional"):
        kept, order = before["input_order"].get(section, []), now["input_order"].get(section, [])
        # New inputs only as optional ones after all of 0.1.0's: the frontend puts optional
        # widgets last, so the saved values keep their positions and the new ones their defaults.
        assert order[: len(kept)] == kept and (section == "optional" or order == kept), section
        for name, spec in before["input"].get(section, {}).items():
            (kind_before, options_before), (kind_now, options_now) = (
                _classic(spec),
                _classic(now["input"][section][name]),
            )
            assert options_now == options_before, name
            if name in ("model", "text_encoder", "audio_tokenizer") and "Loader" in node_id:
                # Folder lists depend on the disk; the official name is always offered first.
                assert kind_now[0] == kind_before[0] == options_now["default"]
            else:
                assert kind_now == kind_before, name
    # Only an output node's hidden PROMPT / EXTRA_PNGINFO (for file metadata) and optional
    # inputs after the old ones (checked above) are new.
    assert set(now["input"]) - set(before["input"]) <= {"hidden", "optional"}


@pytest.mark.parametrize("node_id", NODE_IDS)
def test_node_documents_itself(node_id):
    info = NODE_INFO[node_id]
    assert info["category"] == "audio/AudioGen" and info["description"].strip()
    assert info["display_name"].startswith("AudioGen")
    assert all(tip and tip.strip() for tip in info["output_tooltips"])
    for section in ("required", "optional"):
        for name, (_kind, options) in info["input"].get(section, {}).items():
            assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
            assert options.get("tooltip", "").strip(), f"{name} has no tooltip"


@pytest.mark.parametrize("node_id", NODE_IDS)
def test_node_has_a_help_page(node_id):
    # The frontend fetches /extensions/<pack>/docs/<node id>.md, i.e. from WEB_DIRECTORY.
    page = ROOT / "web" / "docs" / f"{node_id}.md"
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# {NODE_INFO[node_id]['display_name']}\n")
    for section in ("required", "optional"):
        for name in NODE_INFO[node_id]["input"].get(section, {}):
            assert f"`{name}`" in text, f"{page.name} does not explain {name}"


@pytest.mark.parametrize("node_id", NODE_IDS)
def test_the_help_page_is_served_where_every_frontend_looks(node_id):
    # Frontends since 1.2x ask for docs/<node id>/<language>.md first (a 404 there is logged as
    # an error), older ones only for docs/<node id>.md: the English page is at both paths, the
    # plain .md being the one to edit.
    docs = ROOT / "web" / "docs"
    english = docs / node_id / "en.md"
    assert english.is_file() and english.read_bytes() == (docs / f"{node_id}.md").read_bytes(), (
        f"{english.relative_to(ROOT)} differs from web/docs/{node_id}.md: run tools/gen_docs.py"
    )


def test_every_help_page_belongs_to_a_node():
    docs = ROOT / "web" / "docs"
    pages = {p.stem for p in docs.glob("*.md")} | {p.parent.name for p in docs.glob("*/en.md")}
    assert pages == set(NODE_IDS)


LOAD_LIKE_COMFYUI = """
import asyncio, importlib.util, json, sys, types
sys.modules["nodes"] = types.ModuleType("nodes")  # ComfyUI's own nodes.py is loaded first
root = sys.argv[1]
name = root.replace(".", "_x_")
spec = importlib.util.spec_from_file_location(name, root + "/__init__.py")
module = importlib.util.module_from_spec(spec)
sys.modules[name] = module
spec.loader.exec_module(module)
extension = asyncio.run(module.comfy_entrypoint())
listed = asyncio.run(extension.get_node_list())
print(json.dumps({"ids": sorted(n.GET_SCHEMA().node_id for n in listed),
                  "classic": hasattr(module, "NODE_CLASS_MAPPINGS"),
                  "web": module.WEB_DIRECTORY,
                  "comfy_nodes_kept": not hasattr(sys.modules["nodes"], "__path__")}))
"""


def test_root_package_loads_the_way_comfyui_imports_it(tmp_path):
    # A fresh interpreter outside the repository, as ComfyUI: the folder is not on sys.path,
    # comfy_api is (here the stand-in).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(STANDIN_API)
    out = subprocess.run(
        [sys.executable, "-c", LOAD_LIKE_COMFYUI, str(ROOT)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    loaded = json.loads(out.splitlines()[-1])
    assert loaded["ids"] == NODE_IDS
    # ComfyUI loads a module that has NODE_CLASS_MAPPINGS the classic way and never asks it
    # for comfy_entrypoint, so the package must not define both.
    assert not loaded["classic"]
    assert loaded["comfy_nodes_kept"]
    web = ROOT / loaded["web"]
    assert sorted(p.name for p in web.glob("*.js")) == ["audiogen.js", "token_count.js"]


def _js_set(script: str, name: str) -> set[str]:
    body = re.search(rf"const {name} = new Set\(\[(.*?)\]\);", script, re.DOTALL)
    return set(re.findall(r'"(AudioGen[A-Za-z]+)"', body.group(1)))


def test_web_extension_shows_what_every_node_reports():
    # The frontend renders neither a custom node's ui.text nor its takes: the extension must
    # give exactly the nodes that return them an info box or a take player.
    from nodes import display

    script = (ROOT / "web" / "audiogen.js").read_text(encoding="utf-8")
    assert 'from "../../scripts/app.js"' in script and f'"{display.TAKES}"' in script
    sources = {node.GET_SCHEMA().node_id: inspect.getsource(node.execute) for node in NODES}
    assert _js_set(script, "INFO_NODES") == {
        n for n, src in sources.items() if "PreviewText" in src
    }
    assert _js_set(script, "PLAYER_NODES") == {
        n for n, src in sources.items() if "display.takes" in src
    }


def test_token_count_script_asks_the_packs_route_for_the_composer():
    from audiogen_core.conditioning.prompt import VIEWS
    from nodes.routes import ROUTE

    script = (ROOT / "web" / "token_count.js").read_text(encoding="utf-8")
    assert 'from "../../scripts/api.js"' in script and f'"{ROUTE}"' in script
    assert set(re.findall(r'"(AudioGen[A-Za-z]+)"', script)) == {
        "AudioGenCaptionComposer",
        "AudioGenTextEncoderLoader",
    }
    # The composer's views, in the order the route expects them.
    assert "const VIEWS = [" + ", ".join(f'"{view}"' for view in VIEWS) + "];" in script
