"""Peak memory and time of loading a generator snapshot: our loader vs. the naive way.

The naive way (what ``from_pretrained``-style code without meta init does) builds the module
with random weights, reads the whole file into a state dict and copies it in: about twice the
model's size at peak. Ours builds on the meta device and streams tensors from safetensors.

    python benchmarks/bench_load.py --depth 8          # ~1.3 GB fp32 file, a minute
    python benchmarks/bench_load.py --depth 32         # the full 8.7 GB generator

Each measurement runs in a fresh process so that peak RSS belongs to that load alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator_sizes import official_generator_config  # noqa: E402


def write_snapshot(folder: Path, depth: int) -> int:
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


def load_ours(folder: Path) -> None:
    from audiogen_core.checkpoints import load_generator

    load_generator(folder)


def load_naive(folder: Path) -> None:
    from safetensors.torch import load_file

    from audiogen_core.models.generator import DashengAudioGenerator

    config = json.loads((folder / "config.json").read_text())
    model = DashengAudioGenerator.from_config(config)
    model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=False)


def measure(mode: str, folder: Path) -> None:
    start = time.perf_counter()
    {"ours": load_ours, "naive": load_naive}[mode](folder)
    seconds = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(
        json.dumps({"mode": mode, "seconds": round(seconds, 2), "peak_rss_gb": round(peak_gb, 2)})
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depth", type=int, default=8, help="dit_depth of the random snapshot")
    parser.add_argument("--measure", choices=("ours", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.folder)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "Dasheng-AudioGen"
        size = write_snapshot(folder, args.depth)
        print(f"snapshot: dit_depth {args.depth}, {size / 1024**3:.2f} GB")
        for mode in ("ours", "naive"):
            out = subprocess.run(
                [sys.executable, __file__, "--measure", mode, "--folder", str(folder)],
                capture_output=True,
                text=True,
                check=True,
            )
            print(out.stdout.strip())


if __name__ == "__main__":
    main()
