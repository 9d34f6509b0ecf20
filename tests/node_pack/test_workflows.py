"""The shipped workflows: checked against the node definitions, then executed end to end.

Each workflow in workflows/ is read as ComfyUI's frontend saves it (UI format), checked by
workflow_graph.check_workflow, converted to the server's prompt and executed with the real
AudioGen nodes on the tiny model. Core ComfyUI nodes are the stand-ins of comfy_standins.py,
which write real FLAC and MP4 files into a temporary ComfyUI tree.

tests/fixtures/workflows/ keeps the five workflows as saved with pack version 0.1.0 (classic
node API): graphs users saved then must keep validating and running, whatever the shipped
workflows become. Every check and run below covers both folders.
"""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from comfy_sampling_nodes import sampling_node_interfaces
from comfy_standins import FFMPEG, FFPROBE, StandInFolderPaths, bind_core_nodes, probe
from workflow_graph import FRONTEND_ONLY, check_workflow, execute, registry_of, to_prompt

from audiogen_core.conditioning.prompt import language_rule_warning
from nodes import NODES
from nodes.display import TAKES

NODE_CLASS_MAPPINGS = registry_of(NODES)
# ComfyUI's own sampling nodes, which the native sampling workflows use: checked here, run in a
# real ComfyUI (tests/comfyui).
SAMPLING_NODES = sampling_node_interfaces()
ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
SAVED_WITH_0_1_0 = ROOT / "tests" / "fixtures" / "workflows"
FOLDERS = {"shipped": WORKFLOWS, "saved-0.1.0": SAVED_WITH_0_1_0}
NAMES = sorted(p.stem for p in WORKFLOWS.glob("*.json"))
CORE_NODE_TYPES = {
    "SaveAudio",
    "PreviewAudio",
    "LoadAudio",
    "CreateVideo",
    "SaveVideo",
    "GetVideoComponents",
    "LoadVideo",
    *SAMPLING_NODES,
}
VIDEO_FRAMES, VIDEO_FPS = 30, 24  # 1.25 s: not a whole number of 0.04 s latent frames


# The five workflows 0.1.0 shipped, under the names they were saved with then.
SAVED_AS = {
    "01 - Text to a scene": "audiogen-text-to-scene",
    "02 - Batch of variations": "audiogen-batch-variations",
    "04 - Audio round trip": "audiogen-audio-roundtrip",
    "08 - Sound for a video": "audiogen-sound-for-video",
    "12 - Stems and mixer": "audiogen-stems-mix",
}
# The files a user picks in the loaders the shipped workflows leave empty (comfy_run writes them).
PICKED = {"LoadAudio": "your_audio.wav", "LoadVideo": "your_video.mp4"}


def load(name: str, folder: str = "shipped") -> dict:
    file = name if folder == "shipped" else SAVED_AS.get(name, name)
    return json.loads((FOLDERS[folder] / f"{file}.json").read_text(encoding="utf-8"))


def pick_files(workflow: dict) -> dict:
    """The workflow with the user's files chosen in its empty media loaders."""
    for node in workflow["nodes"]:
        if node["type"] in PICKED and not node["widgets_values"][0]:
            node["widgets_values"][0] = PICKED[node["type"]]
    return workflow


def test_the_saved_0_1_0_graphs_are_the_five_workflows():
    assert sorted(p.stem for p in SAVED_WITH_0_1_0.glob("*.json")) == sorted(SAVED_AS.values())
    assert set(SAVED_AS) <= set(NAMES)


@pytest.fixture
def registry(tmp_path) -> dict[str, type]:
    return {
        **NODE_CLASS_MAPPINGS,
        **bind_core_nodes(StandInFolderPaths(tmp_path / "ComfyUI")),
        **SAMPLING_NODES,
    }


def nodes_of(workflow: dict, node_type: str) -> list[dict]:
    return [n for n in workflow["nodes"] if n["type"] == node_type]


def test_the_four_issue_workflows_are_shipped():
    assert {
        "01 - Text to a scene",
        "12 - Stems and mixer",
        "08 - Sound for a video",
        "02 - Batch of variations",
    } <= set(NAMES)


@pytest.mark.parametrize(
    ("folder", "name"),
    [(folder, path.stem) for folder, where in FOLDERS.items() for path in where.glob("*.json")],
)
def test_workflow_matches_the_node_definitions(name, folder, registry):
    workflow = load(name, folder)
    assert workflow["version"] == 0.4
    assert check_workflow(workflow, registry) == []
    used = {n["type"] for n in workflow["nodes"]}
    assert used <= set(NODE_CLASS_MAPPINGS) | CORE_NODE_TYPES | FRONTEND_ONLY
    # The official folders of one checkpoint: English, or multilingual when its name says so.
    generator, text_encoder = (
        ("Dasheng-AudioGen-Multilingual", "mt5-large")
        if "multilingual" in name.lower()
        else ("Dasheng-AudioGen", "flan-t5-large")
    )
    for loader, official in (
        ("AudioGenModelLoader", generator),
        ("AudioGenTextEncoderLoader", text_encoder),
        ("AudioGenAudioTokenizerLoader", "dashengtokenizer"),
    ):
        assert all(n["widgets_values"][0] == official for n in nodes_of(workflow, loader))
    for sampler in nodes_of(workflow, "AudioGenSampler"):
        assert sampler["widgets_values"][2:5] == [25, 5.0, -1.0]  # recommended settings


def test_saved_loaders_get_the_later_weight_dtype_option_at_its_default(registry):
    # 0.1.0 saved [folder, device, precision(, load_encoder)]; weight_dtype came after.
    for name in ("01 - Text to a scene", "04 - Audio round trip"):
        workflow = load(name, "saved-0.1.0")
        prompt = to_prompt(workflow, registry)
        loaders = [n for n in workflow["nodes"] if n["type"].endswith("Loader")]
        assert loaders
        for node in loaders:
            inputs = prompt[str(node["id"])]["inputs"]
            assert inputs["weight_dtype"] == "default"
            assert inputs["precision"] == node["widgets_values"][2]
    # A graph missing a value that is not a later optional one is still refused.
    workflow = load("01 - Text to a scene", "saved-0.1.0")
    nodes_of(workflow, "AudioGenModelLoader")[0]["widgets_values"].pop()
    assert any("widget values for" in p for p in check_workflow(workflow, registry))


def test_a_sampler_saved_before_the_editing_inputs_gets_their_defaults(registry):
    # As ComfyUI's frontend (1.27) loads such a graph: widgets it has no value for keep their
    # defaults and are queued with them, which sample exactly as 0.1.0 did.
    workflow = load("08 - Sound for a video", "saved-0.1.0")
    assert len(_sampler(workflow)["widgets_values"]) == 7
    inputs = to_prompt(workflow, registry)[str(_sampler(workflow)["id"])]["inputs"]
    assert inputs["duration_s"] == ["3", 0]  # still linked to Duration From Video
    assert (inputs["denoise"], inputs["window_s"], inputs["overlap_s"]) == (1.0, 20.0, 4.0)
    assert "latent" not in inputs


@pytest.mark.parametrize("name", NAMES)
def test_workflow_has_a_small_jpeg_thumbnail(name):
    thumbnail = WORKFLOWS / f"{name}.jpg"
    data = thumbnail.read_bytes()
    assert data[:3] == b"\xff\xd8\xff" and len(data) < 100_000


# --------------------------------------------------------------------------- layout
# As LiteGraph draws them: a node's title bar (30 px) sits above its pos; a group's title is
# 1.4 x its font size tall. The frontend keeps the saved sizes (it only grows a node that is too
# small for its widgets, which the saved sizes are not).
NODE_TITLE = 30


def _node_box(node: dict) -> tuple[float, float, float, float]:
    (x, y), (w, h) = node["pos"], node["size"]
    return x, y - NODE_TITLE, x + w, y + h


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def layout_problems(workflow: dict) -> list[str]:
    """Nodes that overlap each other, or stick out of a group they reach into."""
    nodes = workflow["nodes"]
    boxes = {n["id"]: _node_box(n) for n in nodes}
    problems = [
        f"nodes {a['id']} ({a['type']}) and {b['id']} ({b['type']}) overlap"
        for i, a in enumerate(nodes)
        for b in nodes[i + 1 :]
        if _overlap(boxes[a["id"]], boxes[b["id"]])
    ]
    for group in workflow.get("groups", []):
        x, y, w, h = group["bounding"]
        inner = (x, y + 1.4 * group.get("font_size", 24), x + w, y + h)
        for node in nodes:
            box = boxes[node["id"]]
            inside = inner[0] <= box[0] and inner[1] <= box[1] and box[2] <= inner[2]
            if _overlap(box, (x, y, x + w, y + h)) and not (inside and box[3] <= inner[3]):
                where = f"node {node['id']} ({node['type']})"
                problems.append(f"{where} sticks out of {group['title']!r}")
    return problems


@pytest.mark.parametrize("name", NAMES)
def test_workflow_nodes_neither_overlap_nor_stick_out_of_their_groups(name):
    assert layout_problems(load(name)) == []


def test_the_layout_check_sees_overlaps_and_nodes_out_of_groups():
    workflow = copy.deepcopy(load("01 - Text to a scene"))
    loader, encoder = nodes_of(workflow, "AudioGenModelLoader")[0], workflow["nodes"][1]
    loader["size"][1] = encoder["pos"][1] - loader["pos"][1]  # reaches the next title bar
    assert any("overlap" in p for p in layout_problems(workflow))
    workflow = copy.deepcopy(load("01 - Text to a scene"))
    workflow["groups"][0]["bounding"][2] -= 20  # narrower than the loaders inside
    assert any("sticks out" in p for p in layout_problems(workflow))


@pytest.mark.parametrize("name", NAMES)
def test_a_workflow_needing_the_users_file_opens_empty_with_a_note_beside_the_loader(name):
    workflow = load(name)
    notes = nodes_of(workflow, "Note")
    loaders = [n for n in workflow["nodes"] if n["type"] in PICKED]
    # An empty choice instead of a placeholder name: newer frontends flag a missing file in
    # red as soon as the workflow opens. The note says what to do, right above the loader.
    for loader in loaders:
        assert loader["widgets_values"][0] == ""
        above = [
            n
            for n in notes
            if n["pos"][0] == loader["pos"][0]
            and 0 < _node_box(loader)[1] - _node_box(n)[3] <= 60
            and f"on {loader['type'].replace('Load', 'Load ')}," in n["widgets_values"][0]
        ]
        assert above, f"no note above {loader['type']}"
    assert len(notes) == len(loaders)


def test_audio_view_follows_a_plain_generation_and_the_mixer():
    def viewed(name: str) -> set[str]:
        workflow = load(name)
        types = {n["id"]: n["type"] for n in workflow["nodes"]}
        return {
            types[link[1]] for link in workflow["links"] if types[link[3]] == "AudioGenAudioView"
        }

    assert viewed("01 - Text to a scene") == {"AudioGenDecode"}
    assert viewed("12 - Stems and mixer") == {"AudioGenMixer"}


def test_templates_are_listed_in_order_under_readable_titles():
    # ComfyUI's template browser shows each file's name as the card's title.
    assert NAMES[0] == "01 - Text to a scene"
    assert [int(n[:2]) for n in NAMES] == list(range(1, len(NAMES) + 1))
    assert all(re.fullmatch(r"\d\d - [A-Z][a-z]+( [a-z]+)*", n) for n in NAMES), NAMES


def _sampler(workflow: dict) -> dict:
    return nodes_of(workflow, "AudioGenSampler")[0]


def _drop_control_value(workflow: dict) -> None:
    del _sampler(workflow)["widgets_values"][1]


def _steps_zero(workflow: dict) -> None:
    _sampler(workflow)["widgets_values"][2] = 0


def _steps_as_text(workflow: dict) -> None:
    _sampler(workflow)["widgets_values"][2] = "25"


def _unknown_loader_folder(workflow: dict) -> None:
    nodes_of(workflow, "AudioGenModelLoader")[0]["widgets_values"][0] = "nowhere"


def _unknown_type(workflow: dict) -> None:
    _sampler(workflow)["type"] = "AudioGenSamplerXL"


def _wrong_link_type(workflow: dict) -> None:
    workflow["links"][0][5] = "AUDIO"


def _prompt_into_conditioning(workflow: dict) -> None:
    encode = nodes_of(workflow, "AudioGenTextEncode")[0]
    sampler = _sampler(workflow)
    slot = next(i for i, e in enumerate(sampler["inputs"]) if e["name"] == "conditioning")
    link_id = sampler["inputs"][slot]["link"]
    link = next(link for link in workflow["links"] if link[0] == link_id)
    link[1], link[2], link[5] = encode["id"], 1, "FLOAT"  # predicted_seconds -> conditioning
    next(o for o in encode["outputs"] if o["name"] == "conditioning")["links"].remove(link_id)
    encode["outputs"][1]["links"] = [link_id]


def _open_required_input(workflow: dict) -> None:
    _sampler(workflow)["inputs"][0]["link"] = None


@pytest.mark.parametrize(
    "break_it, complaint",
    [
        (_drop_control_value, "widget values"),
        (_steps_zero, "outside"),
        (_steps_as_text, "is not a INT"),
        (_unknown_loader_folder, "is not one of"),
        (_unknown_type, "unknown node type"),
        (_wrong_link_type, "the output gives"),
        (_prompt_into_conditioning, "joins FLOAT to AUDIOGEN_CONDITIONING"),
        (_open_required_input, "is not connected"),
    ],
)
def test_the_checker_catches_broken_workflows(registry, break_it, complaint):
    workflow = copy.deepcopy(load("01 - Text to a scene"))
    break_it(workflow)
    problems = check_workflow(workflow, registry)
    assert any(complaint in p for p in problems), problems


# --------------------------------------------------------------------------- execution


@pytest.fixture(params=list(FOLDERS))
def comfy_run(comfy, request):
    """Run a workflow in the stand-in ComfyUI; give back the run and the folder_paths."""
    folder_paths, _ = comfy
    input_dir = Path(folder_paths.get_input_directory())
    t = np.arange(44100) / 44100
    sf.write(
        input_dir / "your_audio.wav",
        0.3 * np.stack([np.sin(2 * np.pi * 330 * t), np.sin(2 * np.pi * 440 * t)], 1),
        44100,
    )
    if FFMPEG and FFPROBE:
        subprocess.run(
            [
                FFMPEG,
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                f"testsrc=size=64x48:rate={VIDEO_FPS}",
                "-frames:v",
                str(VIDEO_FRAMES),
                "-pix_fmt",
                "yuv420p",
                str(input_dir / "your_video.mp4"),
            ],
            check=True,
        )

    def run(name: str):
        registry = {**NODE_CLASS_MAPPINGS, **bind_core_nodes(folder_paths)}
        workflow = pick_files(load(name, request.param))
        return workflow, execute(to_prompt(workflow, registry), registry)

    return run, folder_paths


def output_of(workflow: dict, run, node_type: str, index: int = 0):
    return run.outputs[str(nodes_of(workflow, node_type)[index]["id"])]


def saved_files(
    folder_paths: StandInFolderPaths, run, workflow: dict, node_type: str
) -> list[Path]:
    base = Path(
        folder_paths.get_output_directory()
        if node_type.startswith("Save")
        else folder_paths.get_temp_directory()
    )
    files = []
    for node in nodes_of(workflow, node_type):
        ui = run.ui[str(node["id"])]
        for entry in ui.get("audio") or ui.get("images"):
            files.append(base / entry["subfolder"] / entry["filename"])
    return files


def test_text_to_scene_runs_and_saves_the_predicted_length(comfy_run):
    run_workflow, folder_paths = comfy_run
    workflow, run = run_workflow("01 - Text to a scene")
    cond, seconds = output_of(workflow, run, "AudioGenTextEncode")
    (audio,) = output_of(workflow, run, "AudioGenDecode")
    frames = cond.predicted_frames[0]
    assert audio["sample_rate"] == 16000 and audio["waveform"].shape == (1, 1, frames * 640)
    assert seconds == pytest.approx(frames / 25)
    (saved,) = saved_files(folder_paths, run, workflow, "SaveAudio")
    assert saved.parent.name == "audio" and saved.name == "AudioGen_00001_.flac"
    (preview,) = saved_files(folder_paths, run, workflow, "PreviewAudio")
    for path in (saved, preview):
        info = sf.info(path)
        assert (info.samplerate, info.frames, info.channels) == (16000, frames * 640, 1)


# A workflow added after 0.1.0: only the shipped copy exists.
@pytest.mark.parametrize("comfy_run", ["shipped"], indirect=True)
def test_multilingual_narration_encodes_spanish_words_with_mt5(comfy_run):
    run_workflow, folder_paths = comfy_run
    workflow, run = run_workflow("03 - Multilingual narration")
    (prompt, _) = output_of(workflow, run, "AudioGenCaptionComposer")
    assert "<|asr|> Había una vez, en un pueblo junto al mar" in prompt
    assert language_rule_warning(prompt) is None  # the views are in English
    (text_encoder,) = output_of(workflow, run, "AudioGenTextEncoderLoader")
    assert text_encoder.component.family == "mt5"
    assert not (text_encoder.folder / "tokenizer.json").exists()
    cond, _ = output_of(workflow, run, "AudioGenTextEncode")
    assert cond.token_counts == text_encoder.component.tokenizer.tokenize([prompt])[2]
    (audio,) = output_of(workflow, run, "AudioGenDecode")
    frames = cond.predicted_frames[0]
    assert audio["sample_rate"] == 16000 and audio["waveform"].shape == (1, 1, frames * 640)
    (saved,) = saved_files(folder_paths, run, workflow, "SaveAudio")
    assert saved.name == "AudioGen_narration_00001_.flac"
    assert sf.info(saved).frames == frames * 640


def test_stems_are_generated_per_view_and_mixed(comfy_run):
    run_workflow, folder_paths = comfy_run
    workflow, run = run_workflow("12 - Stems and mixer")
    prompts = [output_of(workflow, run, "AudioGenCaptionComposer", i)[0] for i in range(4)]
    caption = "<|caption|> A street musician plays while a tour guide talks"
    assert all(p.startswith(caption) for p in prompts)
    assert ["<|speech|>" in p and "<|asr|>" in p for p in prompts[1:]] == [True, False, False]
    assert ["<|music|>" in p for p in prompts[1:]] == [False, True, False]
    assert ["<|sfx|>" in p and "<|env|>" in p for p in prompts[1:]] == [False, False, True]
    for i in range(3):
        (stem,) = output_of(workflow, run, "AudioGenDecode", i)
        assert stem["waveform"].shape == (1, 1, 8 * 16000)
    # The picture output came after these two; a graph saved before it still runs.
    mixed, report, picture = output_of(workflow, run, "AudioGenMixer")
    assert mixed["sample_rate"] == 48000 and mixed["waveform"].shape == (1, 2, 8 * 48000)
    assert "8.00 s, 48 kHz stereo" in report
    assert picture.shape == (1, 720, 1280, 3)
    (saved,) = saved_files(folder_paths, run, workflow, "SaveAudio")
    info = sf.info(saved)
    assert (info.samplerate, info.frames, info.channels) == (48000, 8 * 48000, 2)
    mixer_id = str(nodes_of(workflow, "AudioGenMixer")[0]["id"])
    (preview,) = run.ui[mixer_id][TAKES]
    assert (Path(folder_paths.get_temp_directory()) / preview["filename"]).is_file()
    (shown,) = run.ui[mixer_id]["images"]
    assert (Path(folder_paths.get_temp_directory()) / shown["filename"]).is_file()


@pytest.mark.skipif(not (FFMPEG and FFPROBE), reason="needs the ffmpeg and ffprobe commands")
def test_sound_for_video_ends_exactly_with_the_picture(comfy_run):
    run_workflow, folder_paths = comfy_run
    workflow, run = run_workflow("08 - Sound for a video")
    seconds, frames, fps = output_of(workflow, run, "AudioGenDurationFromVideo")
    assert (frames, fps, seconds) == (VIDEO_FRAMES, VIDEO_FPS, VIDEO_FRAMES / VIDEO_FPS)
    (audio,) = output_of(workflow, run, "AudioGenDecode")
    assert audio["sample_rate"] == 16000
    assert audio["waveform"].shape == (1, 1, round(VIDEO_FRAMES / VIDEO_FPS * 16000))
    (video_file,) = saved_files(folder_paths, run, workflow, "SaveVideo")
    streams = {s["codec_type"]: s for s in probe(str(video_file))["streams"]}
    assert int(streams["video"]["nb_read_frames"]) == VIDEO_FRAMES
    assert streams["audio"]["sample_rate"] == "16000"
    assert float(streams["audio"]["duration"]) == pytest.approx(seconds, abs=0.07)  # AAC frames


def test_batch_variations_save_one_file_per_seed(comfy_run):
    run_workflow, folder_paths = comfy_run
    workflow, run = run_workflow("02 - Batch of variations")
    (latent,) = output_of(workflow, run, "AudioGenSampler")
    assert latent.seeds == [42, 43, 44, 45]
    sampler_id = str(_sampler(workflow)["id"])
    assert run.ui[sampler_id]["text"][0].endswith("seeds 42..45")
    saved = saved_files(folder_paths, run, workflow, "SaveAudio")
    assert [p.name for p in saved] == [f"AudioGen_variations_{i:05}_.flac" for i in range(1, 5)]
    clips = [sf.read(p)[0] for p in saved]
    assert all(sf.info(p).samplerate == 16000 for p in saved)
    assert len({c.shape for c in clips}) == 1 and not np.allclose(clips[0], clips[1])


def test_audio_roundtrip_encodes_any_file_and_decodes_16k(comfy_run):
    run_workflow, folder_paths = comfy_run
    workflow, run = run_workflow("04 - Audio round trip")
    (audio,) = output_of(workflow, run, "AudioGenDecode")
    assert audio["sample_rate"] == 16000
    assert math.isclose(audio["waveform"].shape[-1], 16000, abs_tol=640)
    (saved,) = saved_files(folder_paths, run, workflow, "SaveAudio")
    assert sf.info(saved).samplerate == 16000


# --------------------------------------------------------------------------- editing workflows


def test_the_editing_workflows_are_shipped():
    assert {
        "05 - Variation of my sound",
        "06 - Fix a moment",
        "07 - Extend a clip",
        "11 - Soundtrack for a long video",
    } <= set(NAMES)


def write_input_clip(folder_paths: StandInFolderPaths, seconds: float) -> None:
    """Replace the input clip with a stereo 44.1 kHz one of the given length."""
    t = np.arange(round(seconds * 44100)) / 44100
    tone = np.sin(2 * np.pi * 330 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t))
    path = Path(folder_paths.get_input_directory()) / "your_audio.wav"
    sf.write(path, 0.3 * np.stack([tone, np.sin(2 * np.pi * 440 * t)], 1), 44100)


def sampler_settings(workflow: dict) -> dict:
    names = ["seed", "control", "steps", "guidance", "sway", "duration_s", "batch_size"]
    names += ["denoise", "window_s", "overlap_s"]
    return dict(zip(names, _sampler(workflow)["widgets_values"], strict=True))


def _edit_run(comfy_run, name: str, seconds: float):
    run_workflow, folder_paths = comfy_run
    write_input_clip(folder_paths, seconds)
    workflow, run = run_workflow(name)
    (encoded,) = output_of(workflow, run, "AudioGenEncode")
    (result,) = output_of(workflow, run, "AudioGenSampler")
    (audio,) = output_of(workflow, run, "AudioGenDecode")
    (saved,) = saved_files(folder_paths, run, workflow, "SaveAudio")
    assert audio["waveform"].shape == (1, 1, result.num_samples[0])
    assert (sf.info(saved).samplerate, sf.info(saved).frames) == (16000, result.num_samples[0])
    return workflow, encoded, result


@pytest.mark.parametrize("comfy_run", ["shipped"], indirect=True)
def test_variation_of_my_sound_redoes_the_clip_at_its_length(comfy_run):
    workflow, encoded, result = _edit_run(comfy_run, "05 - Variation of my sound", 1.0)
    assert sampler_settings(workflow)["denoise"] == 0.6
    assert result.latent.shape == encoded.latent.shape
    assert result.num_samples == encoded.num_samples
    assert not torch.allclose(result.latent, encoded.latent, atol=0.1)


@pytest.mark.parametrize("comfy_run", ["shipped"], indirect=True)
def test_fix_a_moment_regenerates_two_seconds_and_keeps_the_rest(comfy_run):
    workflow, encoded, result = _edit_run(comfy_run, "06 - Fix a moment", 6.0)
    (editor,) = nodes_of(workflow, "AudioGenRegenerateRange")
    assert editor["widgets_values"] == [2.0, 4.0, 0.2]
    assert sampler_settings(workflow)["denoise"] == 1.0
    start, stop = 2 * 25, 4 * 25
    assert torch.equal(result.latent[..., :start], encoded.latent[..., :start])
    assert torch.equal(result.latent[..., stop:], encoded.latent[..., stop:])
    assert not torch.allclose(result.latent[..., start:stop], encoded.latent[..., start:stop])


@pytest.mark.parametrize("comfy_run", ["shipped"], indirect=True)
def test_extend_a_clip_adds_five_seconds_exactly(comfy_run):
    workflow, encoded, result = _edit_run(comfy_run, "07 - Extend a clip", 1.0)
    assert nodes_of(workflow, "AudioGenExtend")[0]["widgets_values"] == [0.0, 5.0]
    frames = encoded.latent.shape[-1]
    assert result.num_samples == [encoded.num_samples[0] + 5 * 16000]
    assert result.latent.shape[-1] == frames + 5 * 25
    assert torch.equal(result.latent[..., :frames], encoded.latent)


@pytest.mark.skipif(not (FFMPEG and FFPROBE), reason="needs the ffmpeg and ffprobe commands")
@pytest.mark.parametrize("comfy_run", ["shipped"], indirect=True)
def test_long_video_soundtrack_is_made_window_by_window_and_ends_with_the_picture(comfy_run, comfy):
    run_workflow, folder_paths = comfy_run
    _, standin = comfy
    # 61 frames at 2 fps = 30.5 s: longer than one 20 s window, not a whole number of frames.
    frames, fps = 61, 2
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=64x48:rate={fps}"]
        + ["-frames:v", str(frames), "-pix_fmt", "yuv420p"]
        + [str(Path(folder_paths.get_input_directory()) / "your_video.mp4")],
        check=True,
    )
    workflow, run = run_workflow("11 - Soundtrack for a long video")
    settings = sampler_settings(workflow)
    assert (settings["window_s"], settings["overlap_s"]) == (20.0, 4.0)
    seconds, _, _ = output_of(workflow, run, "AudioGenDurationFromVideo")
    assert seconds == 30.5
    # Frames 0-500 and 400-763: two windows of 25 steps, one progress bar over both.
    assert standin.progress[-1] == (2 * 25, 2 * 25)
    (audio,) = output_of(workflow, run, "AudioGenDecode")
    assert audio["waveform"].shape == (1, 1, 488000)
    (video_file,) = saved_files(folder_paths, run, workflow, "SaveVideo")
    streams = {s["codec_type"]: s for s in probe(str(video_file))["streams"]}
    assert int(streams["video"]["nb_read_frames"]) == frames
    assert float(streams["audio"]["duration"]) == pytest.approx(30.5, abs=0.07)


# --------------------------------------------------------------------------- timeline workflows


def test_the_timeline_workflows_are_shipped():
    assert {"10 - Sound design on a timeline", "09 - Sound on the cuts"} <= set(NAMES)


@pytest.mark.parametrize("comfy_run", ["shipped"], indirect=True)
def test_sound_design_on_a_timeline_places_narration_and_three_events(comfy_run):
    run_workflow, folder_paths = comfy_run
    workflow, run = run_workflow("10 - Sound design on a timeline")
    (cond,) = output_of(workflow, run, "AudioGenTimedPrompt", index=3)
    ranges = [
        (t.event.start_s, t.event.end_s, t.event.fade_s, t.event.strength) for t in cond.timed
    ]
    assert ranges == [
        (0.5, 5.0, 0.0, 1.0),
        (5.5, 6.5, 0.0, 1.0),
        (7.0, 8.5, 0.2, 0.8),
        (8.5, None, 0.3, 1.0),
    ]
    assert "<|asr|> It was a night like any other" in cond.timed[0].event.prompt
    assert cond.prompts[0].startswith("<|caption|> A quiet street at night in the rain")
    assert _sampler(workflow)["widgets_values"][5:] == [10.0, 1, 1.0, 20.0, 4.0, "blend"]
    (audio,) = output_of(workflow, run, "AudioGenDecode")
    assert audio["waveform"].shape == (1, 1, 160000)
    (saved,) = saved_files(folder_paths, run, workflow, "SaveAudio")
    assert (sf.info(saved).samplerate, sf.info(saved).frames) == (16000, 160000)


@pytest.mark.skipif(not (FFMPEG and FFPROBE), reason="needs the ffmpeg and ffprobe commands")
@pytest.mark.parametrize("comfy_run", ["shipped"], indirect=True)
@pytest.mark.parametrize("time_mode", ["blend", "aligned"])
def test_sound_on_the_cuts_starts_the_second_sound_on_the_videos_cut(comfy_run, time_mode):
    _, folder_paths = comfy_run
    # Two shots at 24 fps: 36 red frames, then 30 blue ones: one cut at 1.5 s, 2.75 s in all.
    shot = "color=c={}:size=64x48:rate=24:duration={}"
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", shot.format("red", 1.5)]
        + ["-f", "lavfi", "-i", shot.format("blue", 1.25)]
        + ["-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]"]
        + ["-pix_fmt", "yuv420p", str(Path(folder_paths.get_input_directory()) / "your_video.mp4")],
        check=True,
    )
    registry = {**NODE_CLASS_MAPPINGS, **bind_core_nodes(folder_paths)}
    workflow = pick_files(load("09 - Sound on the cuts"))
    assert _sampler(workflow)["widgets_values"][-1] == "blend"
    _sampler(workflow)["widgets_values"][-1] = time_mode  # the other mode, as a user picks it
    run = execute(to_prompt(workflow, registry), registry)
    assert output_of(workflow, run, "AudioGenCutsFromVideo") == ("1.5", "0-1.5\n1.5-", 1.5, 1)
    (cond,) = output_of(workflow, run, "AudioGenTimedPrompt")
    assert [(t.event.start_s, t.event.end_s) for t in cond.timed] == [(1.5, None)]
    assert cond.timed[0].event.prompt.startswith("<|caption|> A busy city street")
    (audio,) = output_of(workflow, run, "AudioGenDecode")
    assert audio["waveform"].shape == (1, 1, 44000)
    (video_file,) = saved_files(folder_paths, run, workflow, "SaveVideo")
    streams = {s["codec_type"]: s for s in probe(str(video_file))["streams"]}
    assert int(streams["video"]["nb_read_frames"]) == 66
    assert float(streams["audio"]["duration"]) == pytest.approx(2.75, abs=0.07)
