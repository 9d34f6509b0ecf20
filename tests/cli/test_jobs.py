"""Jobs files: what each line becomes, which lines are refused and why, and the batch plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audiogen_core.cli.batch import plan_chunks
from audiogen_core.cli.jobs import JobDefaults, JobsFileError, read_jobs

PROMPTS = Path(__file__).resolve().parents[1] / "fixtures" / "prompts"


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_official_mecat_lines_are_read_as_they_are():
    lines = (PROMPTS / "mecat_en_excerpt.jsonl").read_text().splitlines()
    result = read_jobs(PROMPTS / "mecat_en_excerpt.jsonl", JobDefaults())
    assert result.bad_lines == [] and result.warnings == []
    assert len(result.jobs) == len(lines) == 4
    for line, job in zip(lines, result.jobs, strict=True):
        row = json.loads(line)
        # The tagged prompt goes to the model verbatim: MECAT order (asr last), "None" views.
        assert job.prompt == row["content"] == row["caption"]
        assert job.name == row["audio_id"]
    assert result.jobs[0].prompt.endswith("Guess I'll explain...")
    assert "<|sfx|> None <|music|> None" in result.jobs[2].prompt


def test_official_example_lines_content_views_and_tagged_caption():
    result = read_jobs(PROMPTS / "examples_prompts_excerpt.jsonl", JobDefaults())
    assert result.bad_lines == [] and result.warnings == []
    by_name = {job.name: job.prompt for job in result.jobs}
    official = json.loads((PROMPTS / "official_examples.json").read_text())["examples"]
    expected = {e["id"].removeprefix("examples_"): e["prompt"] for e in official}
    for name in ("sample_001", "sample_002", "probe_001", "probe_025"):
        assert by_name[name] == expected[name]


def test_defaults_overrides_variations_and_file_names(tmp_path):
    jobs = write_jsonl(
        tmp_path / "jobs.jsonl",
        [
            {"prompt": "<|caption|> rain", "seed": 7, "variations": 3, "name": "rain"},
            {"caption": "a dog", "sfx": "bark", "duration": 2.5, "steps": 4, "guidance": 1},
        ],
    )
    defaults = JobDefaults(duration_s=1.0, seed=11, steps=9, guidance=3.0, sway=0.5)
    rain, dog = read_jobs(jobs, defaults).jobs
    assert [(i.file, i.seed) for i in rain.items] == [
        ("rain_00.wav", 7),
        ("rain_01.wav", 8),
        ("rain_02.wav", 9),
    ]
    assert (rain.duration_s, rain.steps, rain.guidance, rain.sway) == (1.0, 9, 3.0, 0.5)
    assert dog.name == "line_00002" and dog.items[0].file == "line_00002.wav"
    assert dog.prompt == "<|caption|> a dog <|sfx|> bark"
    assert (dog.seed, dog.duration_s, dog.steps, dog.guidance) == (11, 2.5, 4, 1.0)


def test_every_bad_line_is_reported_with_its_number_and_the_rest_is_kept(tmp_path):
    jobs = write_jsonl(
        tmp_path / "jobs.jsonl",
        [
            {"prompt": "<|caption|> fine", "name": "a", "mood": "x", "tempo": 1},
            "{not json",
            "[1, 2]",
            {"name": "b"},
            {"prompt": "no tag at the start"},
            {"prompt": "<|caption|> x <|voice|> y"},
            {"prompt": "<|caption|> x", "caption": "y"},
            {"content": "<|caption|> x", "caption": "<|caption|> y"},
            {"caption": "x", "music": "a <|sfx|> b"},
            {"prompt": "<|caption|> x", "name": "../escape"},
            {"prompt": "<|caption|> again", "name": "A", "mood": "y"},
            {"prompt": "<|caption|> fine too", "name": "c", "variations": 2},
            {"prompt": "<|caption|> clash", "name": "c_01"},
        ],
    )
    result = read_jobs(jobs, JobDefaults())
    assert [job.name for job in result.jobs] == ["a", "c"]
    reasons = {bad.line: bad.message for bad in result.bad_lines}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13]
    assert "not valid JSON" in reasons[2]
    assert "JSON object" in reasons[3]
    assert "has no prompt" in reasons[4]
    assert "must start with the <|caption|> tag" in reasons[5]
    assert "Unknown tag '<|voice|>'" in reasons[6]
    assert "use one or the other" in reasons[7]
    assert "two different tagged prompts" in reasons[8]
    assert "move the text that follows it into the sfx field" in reasons[9]
    assert "cannot be a file name" in reasons[10]
    # Names are compared as macOS and Windows do (case-insensitively), variations included.
    assert "line 1 ('a') already makes" in reasons[11]
    assert "line 12 ('c') already makes" in reasons[13]
    assert len(result.warnings) == 2
    assert "'mood' (first on line 1)" in result.warnings[0]
    assert "'tempo' (first on line 1)" in result.warnings[1]


def test_csv_rows_with_quotes_empty_cells_and_line_numbers(tmp_path):
    jobs = tmp_path / "jobs.csv"
    jobs.write_text(
        "\ufeffname,caption,sfx,duration,seed\n"
        'door,"A door, then steps",creak,1.5,4\n'
        "\n"
        'multi,"two\nlines",,,\n'
        "..,x,,,\n",
        encoding="utf-8",
    )
    result = read_jobs(jobs, JobDefaults(seed=9))
    door, multi = result.jobs
    assert door.prompt == "<|caption|> A door, then steps <|sfx|> creak"
    assert (door.line, door.duration_s, door.seed) == (2, 1.5, 4)
    assert (multi.line, multi.prompt, multi.seed, multi.duration_s) == (
        4,
        "<|caption|> two\nlines",
        9,
        None,
    )
    assert [(b.line, "cannot be a file name" in b.message) for b in result.bad_lines] == [(6, True)]


def test_files_that_cannot_be_used_at_all(tmp_path):
    with pytest.raises(JobsFileError, match="cannot read the jobs file"):
        read_jobs(tmp_path / "missing.jsonl", JobDefaults())
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(JobsFileError, match="holds no jobs"):
        read_jobs(tmp_path / "empty.jsonl", JobDefaults())
    (tmp_path / "latin1.csv").write_bytes("caption\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(JobsFileError, match="not UTF-8"):
        read_jobs(tmp_path / "latin1.csv", JobDefaults())


def test_plan_groups_equal_settings_in_file_order_and_splits_by_rank(tmp_path):
    rows = []
    for i in range(11):
        row = {"prompt": f"<|caption|> job {i}", "seed": i}
        if i % 3 == 0:
            row["duration"] = 2.0
        if i == 5:
            row["variations"] = 3
        rows.append(row)
    jobs = read_jobs(write_jsonl(tmp_path / "jobs.jsonl", rows), JobDefaults()).jobs
    chunks = plan_chunks(jobs, batch_size=3)
    for chunk in chunks:
        assert 1 <= len(chunk.items) <= 3
        assert len({item.job.sampler_settings for item in chunk.items}) == 1
    assert [i.job.line for i in chunks[0].items] == [1, 4, 7]  # duration 2.0, in file order
    assert [i.job.line for i in chunks[1].items] == [2, 3, 5]  # predicted length
    assert [(i.job.line, i.variation) for i in chunks[2].items] == [(6, 0), (6, 1), (6, 2)]
    files = [item.file for chunk in chunks for item in chunk.items]
    assert sorted(files) == sorted(i.file for job in jobs for i in job.items)
    # Any number of processes takes every chunk exactly once, and the chunks do not change.
    for world in (1, 2, 3, 7):
        taken = [c.index for rank in range(world) for c in chunks[rank::world]]
        assert sorted(taken) == list(range(len(chunks)))
    assert plan_chunks(jobs, batch_size=3) == chunks


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("steps", 1000, "steps must be between 1 and 200, got 1000"),
        ("steps", 2.5, "steps must be a whole number, got 2.5"),
        ("variations", 17, "variations must be between 1 and 16, got 17"),
        ("guidance", 25, "guidance must be between 0 and 20, got 25.0"),
        ("sway", "-3", "sway must be between -1 and 1, got -3.0"),
        ("seed", True, "seed must be a number, got True"),
        ("seed", -1, "seed must be between 0 and 2**64 - 1 in a batch run"),
        ("seed", 2**64, "seed must be between 0 and 2**64 - 1"),
        ("duration", -1, "duration -1 s is out of range"),
        ("duration", "0.01", "duration 0.01 s is shorter than one latent frame"),
        ("duration", "soon", "duration must be a number, got 'soon'"),
    ],
)
def test_a_setting_out_of_the_limits_stops_the_whole_file(tmp_path, field, value, message):
    rows = [{"prompt": "<|caption|> fine"}, "{broken", {"prompt": "<|caption|> x", field: value}]
    with pytest.raises(JobsFileError) as error:
        read_jobs(write_jsonl(tmp_path / "jobs.jsonl", rows), JobDefaults())
    assert str(error.value).startswith(f"jobs.jsonl line 3: {message}")


def test_settings_as_csv_text_and_whole_floats_are_read_as_numbers(tmp_path):
    jobs = tmp_path / "jobs.csv"
    jobs.write_text(f"caption,steps,seed,guidance\nrain,12.0,{2**64 - 1},1\n")
    (job,) = read_jobs(jobs, JobDefaults()).jobs
    assert (job.steps, job.seed, job.guidance) == (12, 2**64 - 1, 1.0)
    assert isinstance(job.steps, int) and isinstance(job.seed, int)
