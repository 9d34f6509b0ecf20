"""The Python API, the command line, the node schemas and the jobs reader read every sampling
default and limit from one object, ``SETTINGS``: each is compared with its fields here, never
with numbers restated."""

from __future__ import annotations

import inspect
import json

import pytest

from audiogen_core.cli.jobs import JobDefaults, JobsFileError, read_jobs
from audiogen_core.cli.main import build_parser
from audiogen_core.pipeline import AudioGenPipeline
from audiogen_core.sampling.settings import SETTINGS
from nodes.generation import AudioGenSampler
from nodes.loaders import AudioGenModelLoader

# Python name -> the SETTINGS field holding its default.
DEFAULTS = {
    "seed": "seed",
    "steps": "steps",
    "guidance": "guidance",
    "sway": "sway",
    "variations": "variations",
    "denoise": "denoise",
    "window_s": "window_s",
    "overlap_s": "overlap_s",
}


@pytest.mark.parametrize("method", [AudioGenPipeline.generate, AudioGenPipeline.sample])
def test_the_python_api(method):
    parameters = inspect.signature(method).parameters
    for name, field in DEFAULTS.items():
        assert parameters[name].default == getattr(SETTINGS, field), name


def test_the_command_line():
    parser = build_parser()
    generate = parser.parse_args(["generate", "--caption", "x", "--out", "x.wav"])
    batch = parser.parse_args(["batch", "jobs.jsonl", "--out", "out"])
    flags = {"window": "window_s", "overlap": "overlap_s", "weight_dtype": "weight_dtype"}
    for name, field in {**DEFAULTS, **flags}.items():
        flag = name.removesuffix("_s") if name in ("window_s", "overlap_s") else name
        assert getattr(generate, flag) == getattr(SETTINGS, field), flag
    for name in ("seed", "steps", "guidance", "sway", "variations", "weight_dtype"):
        assert getattr(batch, name) == getattr(SETTINGS, name), name


def test_the_command_line_help(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"sampling steps (default {SETTINGS.steps}, 1 to {SETTINGS.steps_range[1]})" in help_text
    assert f"at most {SETTINGS.variations_range[1]}" in help_text


def test_the_node_schemas():
    inputs = {i.id: i for i in AudioGenSampler.GET_SCHEMA().inputs}
    node_names = {"batch_size": "variations"}  # the node's saved name for variations
    for name in ("seed", "steps", "guidance", "sway", "batch_size", "denoise", "window_s"):
        assert inputs[name].default == getattr(SETTINGS, node_names.get(name, name)), name
    assert inputs["overlap_s"].default == SETTINGS.overlap_s
    for name, bounds in [
        ("steps", SETTINGS.steps_range),
        ("guidance", SETTINGS.guidance_range),
        ("sway", SETTINGS.sway_range),
        ("batch_size", SETTINGS.variations_range),
    ]:
        assert (inputs[name].min, inputs[name].max) == bounds, name
    assert inputs["seed"].max == SETTINGS.seed_modulus - 1
    assert inputs["duration_s"].max == SETTINGS.max_duration_s
    loader = {i.id: i for i in AudioGenModelLoader.GET_SCHEMA().inputs}
    assert loader["weight_dtype"].default == SETTINGS.weight_dtype


def test_the_jobs_reader(tmp_path):
    defaults = JobDefaults()
    for name in ("seed", "steps", "guidance", "sway", "variations"):
        assert getattr(defaults, name) == getattr(SETTINGS, name), name
    jobs = tmp_path / "jobs.jsonl"
    highest = {
        "steps": SETTINGS.steps_range[1],
        "guidance": SETTINGS.guidance_range[1],
        "sway": SETTINGS.sway_range[1],
        "variations": SETTINGS.variations_range[1],
        "duration": SETTINGS.max_duration_s,
    }
    jobs.write_text(json.dumps({"prompt": "<|caption|> x", **highest}) + "\n")
    (job,) = read_jobs(jobs, defaults).jobs
    assert (job.steps, job.guidance, job.sway, job.variations, job.duration_s) == tuple(
        highest.values()
    )
    for name, value in highest.items():
        over = value + 1 if isinstance(value, int) else value + 0.5
        jobs.write_text(json.dumps({"prompt": "<|caption|> x", name: over}) + "\n")
        with pytest.raises(JobsFileError, match=f"jobs.jsonl line 1: {name}"):
            read_jobs(jobs, defaults)
