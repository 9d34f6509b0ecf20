"""The shipped native sampling workflows, run in a real ComfyUI with its own node classes.

The UI-format file is turned into the prompt the frontend queues and executed node by node
(workflow_graph); ComfyUI's SamplerCustomAdvanced, CFGGuider, KSamplerSelect, PreviewAudio and
SaveAudio are ComfyUI's own. The first workflow must give the AudioGen Sampler's audio.
"""

from __future__ import annotations

import json

import pytest
import soundfile as sf
import torch
from workflow_graph import execute, registry_of, run_node, to_prompt

NATIVE = "13 - Native sampling"
FEWER_STEPS = "14 - Fewer steps with dpmpp"


@pytest.fixture(scope="session")
def registry(comfyui, tiny_model_dir, tmp_path_factory):
    import comfy_extras.nodes_audio as audio_nodes
    import folder_paths

    folder_paths.add_model_folder_path("audiogen", str(tiny_model_dir))
    folder_paths.set_output_directory(str(tmp_path_factory.mktemp("output")))
    folder_paths.set_temp_directory(str(tmp_path_factory.mktemp("temp")))
    custom = comfyui.custom
    return {
        **registry_of(comfyui.pack.nodes.NODES),
        "SamplerCustomAdvanced": custom.SamplerCustomAdvanced,
        "CFGGuider": custom.CFGGuider,
        "KSamplerSelect": custom.KSamplerSelect,
        "BasicScheduler": custom.BasicScheduler,
        "PreviewAudio": audio_nodes.PreviewAudio,
        "SaveAudio": audio_nodes.SaveAudio,
    }


def workflow(name: str) -> dict:
    from conftest import ROOT

    return json.loads((ROOT / "workflows" / f"{name}.json").read_text(encoding="utf-8"))


def saved_audio(run, graph) -> torch.Tensor:
    import folder_paths

    save = next(n for n in graph["nodes"] if n["type"] == "SaveAudio")
    entry = run.ui[str(save["id"])]["audio"][0]
    path = f"{folder_paths.get_output_directory()}/{entry['subfolder']}/{entry['filename']}"
    data, rate = sf.read(path, dtype="float32")
    assert rate == 16000
    return torch.from_numpy(data)


def test_the_native_workflow_saves_the_samplers_audio(comfyui, registry):
    graph = workflow(NATIVE)
    prompt = to_prompt(graph, registry)
    run = execute(prompt, registry)
    native = saved_audio(run, graph)
    # The same graph with the AudioGen Sampler in place of SamplerCustomAdvanced and its
    # helpers: the pack's own path from the same conditioning and seed.
    nodes = comfyui.pack.nodes
    by_type = {prompt[i]["class_type"]: i for i in prompt}
    conditioning = run.outputs[by_type["AudioGenTextEncode"]][0]
    model = run.outputs[by_type["AudioGenModelLoader"]][0]
    seed = prompt[by_type["AudioGenNoise"]]["inputs"]["seed"]
    sampler = nodes.generation.AudioGenSampler
    latent = run_node(sampler, model, conditioning, seed, 25, 5.0, -1.0, 0.0, 1).args[0]
    tokenizer = run.outputs[by_type["AudioGenAudioTokenizerLoader"]][0]
    decoded = run_node(nodes.codec.AudioGenDecode, tokenizer, latent).args[0]["waveform"][0, 0]
    assert native.shape == decoded.shape
    # FLAC stores 16 bits: equal audio is equal to within one step of 2**-15.
    assert float((native - decoded).abs().max()) <= 2**-15


def test_the_fewer_steps_workflow_runs_dpmpp_2m_in_12_steps(registry):
    graph = workflow(FEWER_STEPS)
    prompt = to_prompt(graph, registry)
    kinds = {node["class_type"]: node["inputs"] for node in prompt.values()}
    assert kinds["KSamplerSelect"]["sampler_name"] == "dpmpp_2m"
    assert kinds["AudioGenSwayScheduler"]["steps"] == 12
    run = execute(prompt, registry)
    audio = saved_audio(run, graph)
    assert audio.numel() > 0 and bool(torch.isfinite(audio).all())
