"""Exit codes of repeated ``torchrun`` batch runs: a batch that finished must exit 0, every time.

A teardown race shows up only now and then (a rank that had finished its work died at
interpreter shutdown, and torchrun reported the job failed), so one run proves nothing: this
runs the same two-process batch over and over, each into a fresh output folder, and prints
every exit code and the tally. A run counts as good when torchrun exits 0 and the summary says
every file was made; the script exits 1 unless every run was good.

With ``--faulthandler`` each worker dumps every thread's Python stack if it is killed by a
signal (``PYTHONFAULTHANDLER``), which shows where a dying rank was.

Usage:
    python benchmarks/bench_torchrun_exit.py [--runs 30] [--processes 2] [--jobs 20]
        [--steps 6] [--batch-size 4] [--faulthandler] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="torchrun runs (default 30)")
    parser.add_argument("--processes", type=int, default=2, help="--nproc-per-node (default 2)")
    parser.add_argument("--jobs", type=int, default=20, help="lines in the jobs file")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--faulthandler", action="store_true", help="stacks of a dying rank")
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="real snapshots (default: tiny ones)"
    )
    return parser.parse_args()


def tiny_models(root: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests" / "support"))
    from tiny_snapshots import write_tiny_snapshots

    return write_tiny_snapshots(root / "models")


def write_jobs(path: Path, count: int) -> Path:
    lines = [
        json.dumps({"caption": f"scene {i}", "sfx": f"sound {i % 3}", "seed": 100 + i})
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_once(jobs: Path, out: Path, models: Path, args) -> tuple[int, bool, float, str]:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={args.processes}", "-m", "audiogen_core", "batch", str(jobs),
        "--out", str(out), "--model-dir", str(models), "--steps", str(args.steps),
        "--duration", "0.5", "--batch-size", str(args.batch_size), "--device", "cpu",
        "--dtype", "fp32",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("AUDIOGEN_MODEL_DIR", None)
    if args.faulthandler:
        env["PYTHONFAULTHANDLER"] = "1"
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    finished = f"done {args.jobs}, skipped 0" in result.stderr
    return result.returncode, finished, time.perf_counter() - started, result.stderr


def main() -> None:
    args = parse_args()
    codes: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = args.model_dir or tiny_models(root)
        jobs = write_jobs(root / "jobs.jsonl", args.jobs)
        for run in range(1, args.runs + 1):
            code, finished, seconds, stderr = run_once(jobs, root / f"out-{run}", models, args)
            outcome = "ok" if code == 0 and finished else f"exit {code}"
            if code != 0 and finished:
                outcome += " after all work was done"
            codes[outcome] += 1
            print(f"run {run:3d}: exit {code}, finished {finished}, {seconds:.1f} s", flush=True)
            if outcome != "ok":
                print(stderr[-4000:], flush=True)
    print(f"\n{args.runs} runs of {args.processes} processes: " + ", ".join(
        f"{outcome}: {count}" for outcome, count in sorted(codes.items())
    ))  # fmt: skip
    if codes["ok"] != args.runs:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
