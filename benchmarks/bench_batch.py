"""Jobs per hour of ``python -m audiogen_core batch``: 1 and N processes, batching on and off.

Runs the real command (and ``torchrun`` for several processes) on the tiny random snapshots of
the test suite, or on real weights with ``--model-dir``, each configuration into a fresh
output folder, and prints a Markdown table:

* generation: files per hour while generating (models loaded; the slowest process counts),
  from the command's own summary;
* end to end: files per hour including start-up and model loading.

Usage:
    python benchmarks/bench_batch.py [--jobs 24] [--steps 10] [--duration 1.0]
        [--processes 1,2] [--batch-sizes 1,8] [--device cpu] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"generated in ([\d.]+) s by (\d+) process")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=24, help="jobs in the file (default 24)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--duration", type=float, default=1.0, help="seconds per file")
    parser.add_argument("--processes", default="1,2", help="comma-separated process counts")
    parser.add_argument("--batch-sizes", default="1,8", help="comma-separated --batch-size")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="real snapshots (default: tiny ones)"
    )
    return parser.parse_args()


def tiny_models(root: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests" / "support"))
    from tiny_snapshots import write_tiny_snapshots

    return write_tiny_snapshots(root / "models")


def write_jobs(path: Path, count: int) -> Path:
    views = ("rain on a tin roof", "a dog barks twice", "slow jazz piano", "city traffic")
    lines = [
        json.dumps({"caption": f"scene {i}", "sfx": views[i % len(views)], "seed": i})
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(jobs: Path, out: Path, models: Path, processes: int, batch_size: int, args) -> dict:
    command = [sys.executable, "-m"]
    if processes > 1:
        command += ["torch.distributed.run", "--standalone", f"--nproc-per-node={processes}", "-m"]
    command += [
        "audiogen_core", "batch", str(jobs), "--out", str(out), "--model-dir", str(models),
        "--steps", str(args.steps), "--duration", str(args.duration),
        "--batch-size", str(batch_size), "--device", args.device,
    ]  # fmt: skip
    # One thread per process unless told otherwise: a fair comparison on a CPU, and torchrun's
    # own default for several processes.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.setdefault("OMP_NUM_THREADS", "1")
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    total = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    generating = float(SUMMARY.search(result.stderr).group(1))
    return {
        "processes": processes,
        "batch_size": batch_size,
        "generation_per_hour": args.jobs / generating * 3600,
        "end_to_end_per_hour": args.jobs / total * 3600,
        "generating_s": generating,
        "total_s": total,
    }


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = args.model_dir or tiny_models(root)
        jobs = write_jobs(root / "jobs.jsonl", args.jobs)
        rows = []
        for processes in [int(p) for p in args.processes.split(",")]:
            for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
                out = root / f"out-{processes}-{batch_size}"
                rows.append(run(jobs, out, models, processes, batch_size, args))
                print(rows[-1], file=sys.stderr, flush=True)
    print(
        f"\n{args.jobs} jobs x {args.duration:g} s, {args.steps} steps, device {args.device}\n\n"
        "| processes | --batch-size | generation (jobs/h) | end to end (jobs/h) "
        "| generating (s) | total (s) |\n| --- | --- | --- | --- | --- | --- |"
    )
    for r in rows:
        print(
            f"| {r['processes']} | {r['batch_size']} | {r['generation_per_hour']:.0f} "
            f"| {r['end_to_end_per_hour']:.0f} | {r['generating_s']:.1f} | {r['total_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
