"""Time the audio tokenizer's decode path (latent -> 16 kHz waveform) with random weights.

Usage: python benchmarks/bench_decode.py [--config CONFIG_JSON] [--seconds 10] [--batch 1]
       [--dtype float32|bfloat16|float16] [--device cpu|cuda] [--repeats 5]

CONFIG_JSON is a tokenizer config.json, or a JSON file holding one under "config" (the fixtures'
tokenizer manifest, the default: full size) or "tokenizer_config" (a golden case sidecar: small).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audiogen_core.models.audio_tokenizer import DashengAudioTokenizer  # noqa: E402
from audiogen_core.models.derived_buffers import reset_derived_buffers  # noqa: E402

DEFAULT_CONFIG = ROOT / "tests" / "fixtures" / "golden" / "manifest_tokenizer.json"


def load_config(path: Path) -> dict:
    data = json.loads(path.read_text())
    return data.get("config") or data.get("tokenizer_config") or data


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    device = torch.device(args.device)
    with device:
        model = DashengAudioTokenizer.from_config(load_config(args.config), include_encoder=False)
    model = model.to(getattr(torch, args.dtype)).eval()
    reset_derived_buffers(model)  # keep the ISTFT window in float32, as the loader does

    frames = round(args.seconds * model.frame_rate)
    latent = torch.randn(args.batch, model.latent_dim, frames, device=device)
    model.decode(latent)  # warm-up (kernel selection, allocator)
    synchronize(device)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        model.decode(latent)
        synchronize(device)
        times.append(time.perf_counter() - start)

    params = sum(p.numel() for p in model.parameters())
    audio_s = args.batch * frames / model.frame_rate
    print(
        f"decode: {params / 1e6:.1f} M parameters, {args.dtype} on {device}, batch "
        f"{args.batch} x {frames} frames ({audio_s:.1f} s of audio)"
    )
    print(
        f"  min {min(times) * 1e3:.1f} ms, mean {sum(times) / len(times) * 1e3:.1f} ms, "
        f"{audio_s / min(times):.1f}x real time"
    )


if __name__ == "__main__":
    main()
