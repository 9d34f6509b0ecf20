"""The stand-in comfy_api.latest behaves like ComfyUI 0.3.64's real one where the pack uses it.

tests/fixtures/comfy_api_0.3.64.json was recorded from a ComfyUI 0.3.64 checkout with
tools/record_comfy_api.py; comfy_api_probe.describe() gives the same record for the stand-in.
"""

from __future__ import annotations

import json
from pathlib import Path

import comfy_api.latest as standin
import pytest
from comfy_api_probe import describe

STANDIN_API = Path(__file__).resolve().parents[1] / "support" / "standin_api"

RECORDED = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "comfy_api_0.3.64.json").read_text()
)
OURS = json.loads(json.dumps(describe(standin), sort_keys=True))


def test_the_stand_in_is_the_one_under_test():
    assert Path(standin.__file__).is_relative_to(STANDIN_API)
    assert RECORDED["comfyui"] == "0.3.64"


@pytest.mark.parametrize("name", sorted(RECORDED["signatures"]))
def test_signature_matches_comfyui(name):
    assert OURS["signatures"][name] == RECORDED["signatures"][name]


@pytest.mark.parametrize(
    "section",
    [
        "coroutines",
        "schema_fields",
        "io_types",
        "hidden",
        "probe_info",
        "probe_class",
        "probe_output",
        "extension_is_abstract",
        "entrypoint_style",
    ],
)
def test_behaviour_matches_comfyui(section):
    assert OURS[section] == RECORDED[section]


def test_model_management_stand_in_behaves_like_comfyuis():
    # tests/fixtures/comfy_memory_0.3.64.json: tools/record_comfy_memory.py in ComfyUI 0.3.64.
    import comfy_ops_standin
    from comfy_memory_probe import describe as describe_memory
    from comfy_standins import StandInComfy

    recorded = json.loads(
        (Path(__file__).resolve().parents[1] / "fixtures" / "comfy_memory_0.3.64.json").read_text()
    )
    assert recorded.pop("comfyui") == "0.3.64"
    standin_comfy = StandInComfy()
    ours = describe_memory(standin_comfy, standin_comfy, comfy_ops_standin)
    assert json.loads(json.dumps(ours)) == recorded
