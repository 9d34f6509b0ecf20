"""The batch command: one process and torchrun agree, runs resume, errors are clear."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from audiogen_core.cli.main import main
from audiogen_core.media.files import encode_wav

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ROOT / "tests" / "fixtures" / "prompts"
VOLATILE = ("seconds_taken", "rank")  # the only manifest fields that may differ between runs
STEPS = 6


def twenty_jobs(path: Path) -> Path:
    """Fixed and predicted lengths, two sampler settings, variations: every kind of chunk."""
    rows = []
    for i in range(18):
        row = {"prompt": f"<|caption|> scene {i} <|sfx|> sound {i % 3}", "seed": 100 + i}
        if i % 3:
            row["duration"] = 1.0 if i % 3 == 1 else 0.75
        if i == 4:
            row["steps"] = STEPS // 2
        rows.append(row)
    rows[7] = {**rows[7], "name": "two", "variations": 3}  # 18 lines, 20 files
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def batch_command(jobs: Path, out: Path, models: Path, *extra: str, batch_size=4) -> list[str]:
    return [
        "batch", str(jobs), "--out", str(out), "--model-dir", str(models), "--steps", str(STEPS),
        "--batch-size", str(batch_size), "--device", "cpu", "--dtype", "fp32", *extra,
    ]  # fmt: skip


def subprocess_env() -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("AUDIOGEN_MODEL_DIR", None)
    return env


def run_in_process(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def stable(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in records]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wav_files(out: Path) -> dict[str, str]:
    return {p.name: sha(p) for p in sorted(out.glob("*.wav"))}


@pytest.fixture(scope="module")
def reference(tiny_model_dir, tmp_path_factory):
    """The 20-file job list made by one uninterrupted single process."""
    root = tmp_path_factory.mktemp("batch_reference")
    jobs = twenty_jobs(root / "jobs.jsonl")
    out = root / "out"
    # One CPU thread, like the runs it is compared with (the subprocesses here, and every
    # torchrun worker, which torchrun starts with OMP_NUM_THREADS=1): float sums are blocked
    # by thread count, so bit-for-bit agreement holds for the same threads per process.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(batch_command(jobs, out, tiny_model_dir))
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return jobs, out


def test_single_process_run_is_complete_and_correct(reference, tiny_model_dir):
    jobs, out = reference
    records = manifest(out)
    files = [r["file"] for r in records]
    assert len(files) == len(set(files)) == 20
    assert set(files) == set(wav_files(out)) and "two_02.wav" in files
    assert not list(out.glob("manifest.part-*")) and not list(out.glob(".*"))
    for record in records:
        path = out / record["file"]
        info = soundfile.info(str(path))
        assert record["status"] == "done" and record["sha256"] == sha(path)
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, record["samples"])
        if record["requested_duration"] is not None:
            assert record["samples"] == round(record["requested_duration"] * 16000)
    by_file = {r["file"]: r for r in records}
    assert [by_file[f"two_0{v}.wav"]["seed"] for v in range(3)] == [107, 108, 109]
    assert by_file["line_00005.wav"]["steps"] == STEPS // 2


def test_batch_size_one_reproduces_generate_and_batching_changes_only_rounding(
    reference, tiny_model_dir, tmp_path, capsys
):
    from audiogen_core.pipeline import AudioGenPipeline

    jobs, batched = reference
    unbatched = tmp_path / "unbatched"
    code, _ = run_in_process(capsys, *batch_command(jobs, unbatched, tiny_model_dir, batch_size=1))
    assert code == 0
    pipe = AudioGenPipeline.from_model_dir(tiny_model_dir, device="cpu", dtype="fp32")
    record = next(r for r in manifest(unbatched) if r["file"] == "line_00002.wav")
    alone = pipe.generate(
        record["prompt"],
        seed=record["seed"],
        steps=record["steps"],
        duration_s=record["requested_duration"],
    )
    wav = encode_wav(alone.waveform[0, 0].numpy(), 16000, "pcm16")
    assert hashlib.sha256(wav).hexdigest() == record["sha256"]
    # A sampler call of several items rounds differently from calls of one (matrix products
    # are blocked by batch size), so batched files agree with unbatched ones only to rounding.
    for name in wav_files(unbatched):
        a, _ = soundfile.read(str(unbatched / name), dtype="float32")
        b, _ = soundfile.read(str(batched / name), dtype="float32")
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= 2 / 32768, name


def test_torchrun_two_processes_make_the_same_files_bit_for_bit(
    reference, tiny_model_dir, tmp_path
):
    jobs, single = reference
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "audiogen_core", *batch_command(jobs, out, tiny_model_dir),
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, env=subprocess_env(), cwd=ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[rank 0/2] done 20, skipped 0" in result.stderr
    assert "rank 1/2: 100%" in result.stderr
    assert wav_files(out) == wav_files(single)
    records = manifest(out)
    assert stable(records) == stable(manifest(single))  # merged, complete, in file order
    assert {r["rank"] for r in records} == {0, 1}
    assert not list(out.glob("manifest.part-*"))


def test_killed_run_resumes_with_only_the_missing_files(reference, tiny_model_dir, tmp_path):
    jobs, single = reference
    out = tmp_path / "out"
    command = [sys.executable, "-m", "audiogen_core", *batch_command(jobs, out, tiny_model_dir)]
    process = subprocess.Popen(
        command, env=subprocess_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    part = out / "manifest.part-0.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if part.exists() and part.read_bytes().count(b"\n") >= 4:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait(timeout=60)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"

    complete_lines = part.read_text().split("\n")[:-1]  # after the last newline: unfinished
    written = [json.loads(line) for line in complete_lines]
    assert 4 <= len(written) < 20
    for record in written:  # every manifest line has its whole file
        assert sha(out / record["file"]) == record["sha256"]
    finished = set(wav_files(out))
    assert {r["file"] for r in written} <= finished
    for name in finished:  # whatever is under a final name is whole, line or not
        assert sha(out / name) == wav_files(single)[name]

    result = subprocess.run(
        command, capture_output=True, text=True, env=subprocess_env(), cwd=ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"done {20 - len(written)}, skipped {len(written)} (already complete)" in result.stderr
    assert wav_files(out) == wav_files(single)
    assert stable(manifest(out)) == stable(manifest(single))
    assert not list(out.glob(".*")) and not list(out.glob("manifest.part-*"))


def test_bad_lines_fail_alone_and_nothing_done_is_lost(tiny_model_dir, tmp_path, capsys):
    jobs = tmp_path / "jobs.jsonl"
    lines = [
        {"prompt": "<|caption|> rain", "name": "rain", "duration": 0.5},
        "{broken",
        {"prompt": "<|caption|> wind", "name": "rain", "duration": 0.5},
        {"caption": "a dog", "sfx": "bark", "name": "dog", "duration": 0.5, "mood": "happy"},
    ]
    jobs.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in lines))
    out = tmp_path / "out"
    args = ["batch", str(jobs), "--out", str(out), "--model-dir", str(tiny_model_dir),
            "--steps", "2", "--device", "cpu"]  # fmt: skip
    code, err = run_in_process(capsys, *args)
    assert code == 1
    assert "jobs.jsonl line 2: is not valid JSON" in err
    assert "jobs.jsonl line 3: name 'rain' gives a file that line 1 ('rain') already makes" in err
    assert "unknown field 'mood' (first on line 4)" in err
    assert "done 2, skipped 0 (already complete), failed 0, bad lines 2" in err
    records = manifest(out)
    assert [(r["status"], r["line"], r["file"]) for r in records] == [
        ("done", 1, "rain.wav"),
        ("failed", 2, None),
        ("failed", 3, None),
        ("done", 4, "dog.wav"),
    ]
    before = wav_files(out)

    # The user fixes line 3 and changes line 1's prompt: line 1's finished file is kept as it
    # is (never overwritten) and reported, the fixed line runs, the rest is skipped.
    lines[2]["name"] = "wind"
    lines[0]["prompt"] = "<|caption|> heavy rain"
    jobs.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in lines))
    code, err = run_in_process(capsys, *args)
    assert code == 1
    assert "rain.wav already exists and holds other audio" in err and "left as it is" in err
    assert "done 1, skipped 1 (already complete), failed 1, bad lines 1" in err
    assert wav_files(out)["rain.wav"] == before["rain.wav"]
    assert wav_files(out)["dog.wav"] == before["dog.wav"]
    statuses = {(r["line"], r["file"]): r["status"] for r in manifest(out)}
    assert statuses == {
        (1, "rain.wav"): "failed",
        (2, None): "failed",
        (3, "wind.wav"): "done",
        (4, "dog.wav"): "done",
    }
    # Recorded failures are skipped until asked for again.
    code, err = run_in_process(capsys, *args)
    assert "done 0, skipped 2 (already complete), failed 0, not retried 1" in err
    code, err = run_in_process(capsys, *args, "--retry-failed")
    assert "failed 1" in err and wav_files(out)["rain.wav"] == before["rain.wav"]


def test_user_files_in_the_output_folder_are_never_replaced(tiny_model_dir, tmp_path, capsys):
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("name,prompt,duration\nmine,<|caption|> rain,0.5\nnew,<|caption|> sea,0.5\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.wav").write_bytes(b"a recording of my own")
    code, err = run_in_process(
        capsys, "batch", str(jobs), "--out", str(out), "--model-dir", str(tiny_model_dir),
        "--steps", "2", "--device", "cpu",
    )  # fmt: skip
    assert code == 1 and "mine.wav already exists" in err
    assert (out / "mine.wav").read_bytes() == b"a recording of my own"
    assert soundfile.info(str(out / "new.wav")).frames == 8000


def test_csv_and_jsonl_give_the_same_audio(tiny_model_dir, tmp_path, capsys):
    csv_jobs = tmp_path / "jobs.csv"
    csv_jobs.write_text(
        'name,caption,sfx,duration,seed\ndoor,"A door, then steps",creak,0.5,4\nbell,bell,,0.5,5\n'
    )
    jsonl_jobs = tmp_path / "jobs.jsonl"
    jsonl_jobs.write_text(
        json.dumps({"name": "door", "prompt": "<|caption|> A door, then steps <|sfx|> creak",
                    "duration": 0.5, "seed": 4}) + "\n"
        + json.dumps({"name": "bell", "caption": "bell", "duration": 0.5, "seed": 5}) + "\n"
    )  # fmt: skip
    for jobs, out in ((csv_jobs, tmp_path / "a"), (jsonl_jobs, tmp_path / "b")):
        code, _ = run_in_process(capsys, *batch_command(jobs, out, tiny_model_dir))
        assert code == 0
    assert wav_files(tmp_path / "a") == wav_files(tmp_path / "b")
    assert len(wav_files(tmp_path / "a")) == 2


def test_official_mecat_and_example_files_run_unchanged(tiny_model_dir, tmp_path, capsys):
    for name in ("mecat_en_excerpt.jsonl", "examples_prompts_excerpt.jsonl"):
        out = tmp_path / name
        code, err = run_in_process(
            capsys, "batch", str(PROMPTS / name), "--out", str(out), "--model-dir",
            str(tiny_model_dir), "--steps", "2", "--duration", "0.5", "--device", "cpu",
        )  # fmt: skip
        assert code == 0, err
        assert "warning" not in err
        rows = [json.loads(line) for line in (PROMPTS / name).read_text().splitlines()]
        records = manifest(out)
        assert [r["file"] for r in records] == [f"{row['audio_id']}.wav" for row in rows]
        for row, record in zip(rows, records, strict=True):
            if "content" in row:
                assert record["prompt"] == row["content"]
            assert record["samples"] == 8000


def test_unusable_output_folder_and_missing_models_stop_before_any_work(
    tiny_model_dir, tmp_path, capsys
):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"prompt": "<|caption|> rain", "duration": 0.5}\n{"caption": "sea"}\n')
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    code, err = run_in_process(capsys, *batch_command(jobs, a_file, tiny_model_dir))
    assert code == 2 and "is a file, not a folder" in err
    code, err = run_in_process(capsys, *batch_command(jobs, a_file / "sub", tiny_model_dir))
    assert code == 2 and "cannot write to the output folder" in err
    assert a_file.read_text() == "keep me"
    if os.geteuid() != 0:  # the superuser may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        code, err = run_in_process(capsys, *batch_command(jobs, locked, tiny_model_dir))
        assert code == 2 and "cannot write to the output folder" in err

    # A finished run with a wrong model folder: a clear error, and its files stay as they are.
    out = tmp_path / "done"
    code, _ = run_in_process(capsys, *batch_command(jobs, out, tiny_model_dir))
    assert code == 0
    before = wav_files(out), (out / "manifest.jsonl").read_bytes()
    code, err = run_in_process(capsys, *batch_command(jobs, out, tmp_path / "no-models"))
    assert code == 2 and "Model weights not found" in err and "Traceback" not in err
    assert (wav_files(out), (out / "manifest.jsonl").read_bytes()) == before
    code, err = run_in_process(capsys, *batch_command(tmp_path / "nope.jsonl", out, tiny_model_dir))
    assert code == 2 and "cannot read the jobs file" in err


def test_a_torn_manifest_line_is_skipped_and_reported(tmp_path):
    from audiogen_core.cli.manifest import read_records

    done = {"status": "done", "file": "a.wav", "line": 1, "sha256": "0" * 64, "samples": 1}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(done) + "\n")
    (tmp_path / "manifest.part-1.jsonl").write_text(json.dumps({**done, "file": "b.wav"}) + "\n")
    (tmp_path / "manifest.part-0.jsonl").write_text('{"status": "done", "file": "c.w')
    records, problems = read_records(tmp_path)
    assert [r["file"] for r in records] == ["a.wav", "b.wav"]
    assert problems == ["manifest.part-0.jsonl line 1 is incomplete and was skipped"]


def test_float_files_are_the_same_bytes_on_every_run(tiny_model_dir, tmp_path, capsys):
    """No time-stamped PEAK chunk: a file made again a second later is recognised as the same
    audio (a crash between its rename and its manifest line), not as someone else's file."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"prompt": "<|caption|> rain", "duration": 0.5, "name": "r"}) + "\n")
    out = tmp_path / "out"
    args = [*batch_command(jobs, out, tiny_model_dir, "--format", "float")]
    code, _ = run_in_process(capsys, *args)
    assert code == 0
    first = (out / "r.wav").read_bytes()
    assert soundfile.info(str(out / "r.wav")).subtype == "FLOAT" and b"PEAK" not in first
    (out / "manifest.jsonl").unlink()
    time.sleep(1.05)  # a PEAK chunk would record another second
    code, err = run_in_process(capsys, *args)
    assert code == 0, err
    assert "done 1, skipped 0 (already complete), failed 0" in err
    assert (out / "r.wav").read_bytes() == first


def test_a_line_out_of_the_limits_stops_the_run_before_any_model_loads(
    tiny_model_dir, tmp_path, capsys, monkeypatch
):
    from audiogen_core.checkpoints import weights

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the jobs file was checked")

    for loader in ("load_generator", "load_text_encoder", "load_audio_tokenizer"):
        monkeypatch.setattr(weights, loader, refuse)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"prompt": "<|caption|> rain"}\n{"caption": "sea", "steps": 1000}\n')
    code, err = run_in_process(capsys, *batch_command(jobs, tmp_path / "out", tiny_model_dir))
    assert code == 2
    assert "error: jobs.jsonl line 2: steps must be between 1 and 200, got 1000" in err
    assert not list((tmp_path / "out").iterdir())


def test_weight_dtype_reaches_every_loader(tiny_model_dir, tmp_path, capsys, monkeypatch):
    from audiogen_core.checkpoints import weights

    asked = []
    for name in ("load_generator", "load_text_encoder", "load_audio_tokenizer"):
        real = getattr(weights, name)

        def watch(*args, _real=real, _name=name, **kwargs):
            asked.append((_name, kwargs.get("weight_dtype")))
            return _real(*args, **kwargs)

        monkeypatch.setattr(weights, name, watch)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"prompt": "<|caption|> rain", "duration": 0.5}\n')
    args = batch_command(jobs, tmp_path / "out", tiny_model_dir, "--weight-dtype", "bf16")
    code, err = run_in_process(capsys, *args)
    assert code == 0, err
    assert sorted(asked) == [
        ("load_audio_tokenizer", torch.bfloat16),
        ("load_generator", torch.bfloat16),
        ("load_text_encoder", torch.bfloat16),
    ]
