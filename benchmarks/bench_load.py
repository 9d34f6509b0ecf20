"""Time and peak memory of loading a generator snapshot: this loader A/B against a previous one.

The previous loader is the ``audiogen_core`` package of a git revision (``--baseline``),
extracted with ``git archive`` into a temporary folder. Every load runs in a fresh process
(torch and the package imported first, not timed), so that its time and peak RSS belong to
that load alone; the two loaders alternate, several rounds, and medians are reported.

    python benchmarks/bench_load.py --folder <models>/Dasheng-AudioGen --dtype float32
    python benchmarks/bench_load.py --depth 8          # a random ~1.3 GB fp32 snapshot

Peak is the growth of the process's peak RSS (VmHWM, reset just before the load) over its RSS
before; kept is what stays resident after. ``mapped`` says whether any weight file is still
memory-mapped once the load returns (it must not be).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator_sizes import official_generator_config  # noqa: E402
from process_memory import reset_peak, status_bytes  # noqa: E402

GIB = 1024**3


def write_snapshot(folder: Path, depth: int) -> int:
    """A random generator snapshot of the official widths with ``depth`` DiT blocks."""
    import torch
    from safetensors.torch import save_file

    from audiogen_core.models.generator import DashengAudioGenerator

    config = official_generator_config() | {"dit_depth": depth}
    with torch.device("meta"):
        model = DashengAudioGenerator.from_config(config)
    tensors = {}
    for key, value in model.state_dict().items():
        if value.dtype.is_floating_point:
            tensors[key] = torch.randn(value.shape) * 0.02
        else:
            tensors[key] = torch.full(value.shape, config["instruction_seq_len"], dtype=value.dtype)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    save_file(tensors, str(folder / "model.safetensors"))
    return (folder / "model.safetensors").stat().st_size


def extract_package(revision: str, into: Path) -> Path:
    """``audiogen_core`` as it was at ``revision``, unpacked under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "audiogen_core"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def measure(package_root: Path, folder: Path, dtype_name: str) -> dict:
    """One load in this (fresh) process from the package under ``package_root``."""
    sys.path.insert(0, str(package_root))
    import torch

    import audiogen_core

    load_generator = _load_generator()
    dtype = getattr(torch, dtype_name)
    with torch.device("meta"):  # torch's one-time meta set-up, paid by both loaders alike
        torch.empty(1)
    reset_peak()
    before = status_bytes("VmRSS")
    start = time.perf_counter()
    model = load_generator(folder, dtype=dtype)
    seconds = time.perf_counter() - start
    peak, after = status_bytes("VmHWM"), status_bytes("VmRSS")
    maps = Path("/proc/self/maps").read_text() if Path("/proc/self/maps").exists() else ""
    return {
        "package": str(Path(audiogen_core.__file__).parent),
        "seconds": round(seconds, 2),
        "peak_gib": round((peak - before) / GIB, 2),
        "kept_gib": round((after - before) / GIB, 2),
        "mapped": ".safetensors" in maps,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def _load_generator():
    """``load_generator`` wherever the package keeps it (its modules moved between revisions)."""
    try:
        from audiogen_core.checkpoints import load_generator
    except ImportError:
        from audiogen_core.checkpoints.weights import load_generator
    return load_generator


def run_child(package_root: Path, folder: Path, dtype: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(package_root), "--folder", str(folder)]
        + ["--dtype", dtype],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"load from {package_root} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(folder: Path, dtype: str, baseline: str, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        packages = {"previous": extract_package(baseline, Path(tmp)), "this": ROOT}
        results: dict[str, list[dict]] = {name: [] for name in packages}
        for round_index in range(rounds):
            order = list(packages) if round_index % 2 == 0 else list(reversed(packages))
            for name in order:
                result = run_child(packages[name], folder, dtype)
                results[name].append(result)
                print(json.dumps({"loader": name, "round": round_index, **result}), flush=True)
    for name, runs in results.items():
        seconds = [run["seconds"] for run in runs]
        print(
            f"{name:8s} {dtype}: median {statistics.median(seconds):.2f} s "
            f"(all {', '.join(f'{s:.2f}' for s in seconds)}), "
            f"peak {max(run['peak_gib'] for run in runs):.2f} GiB, "
            f"kept {statistics.median(run['kept_gib'] for run in runs):.2f} GiB, "
            f"mapped after load: {any(run['mapped'] for run in runs)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folder", type=Path, help="a generator snapshot folder to load")
    parser.add_argument("--depth", type=int, default=8, help="dit_depth of a random snapshot")
    parser.add_argument("--dtype", default="float32", help="float32, bfloat16 or float16")
    parser.add_argument("--baseline", default="e0a4f13", help="git revision of the A side")
    parser.add_argument("--rounds", type=int, default=3, help="loads per loader, alternating")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.folder, args.dtype)))
        return
    if args.folder:
        compare(args.folder, args.dtype, args.baseline, args.rounds)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "Dasheng-AudioGen"
        size = write_snapshot(folder, args.depth)
        print(f"snapshot: dit_depth {args.depth}, {size / GIB:.2f} GiB")
        compare(folder, args.dtype, args.baseline, args.rounds)


if __name__ == "__main__":
    main()
