"""Full-size text-to-audio, stage by stage: seconds and resident memory per precision.

Each run is one fresh process doing what the command line does, one model in memory at a
time: load the text encoder, encode one prompt, free it; load the generator, condition,
sample (``--steps`` steps, classifier-free guidance, ``--seconds`` of audio), free it; load
the audio tokenizer's decoder, decode. For
every stage it records the wall time and the process's resident memory before, after and at
its peak (VmHWM, reset at the start of each stage, Linux), plus the time of every sampling
step. Runs of the precisions given alternate (and, with ``--reference-dir``, the official
code's runs alternate with ours) so that a change in machine load hits all of them alike.

Weights: ``--model-dir`` holds the three official snapshot folders (real weights, or random
ones written there once with ``--write-random``: official configs, keys and shapes, float32
as the official snapshots ship, about 13 GB; see full_size_snapshots.py).

With ``--reference-dir`` (a folder with the official trust_remote_code files, as for
bench_vs_reference.py) the official ``DashengAudioGenModel.generate()`` runs the same
conditioning and sampling in its own process, on the same weight tensors (loaded by our
loader and assigned to the official module, so its load numbers are ours), T5 states from
our encoder, the same noise, and our decoder. Its sampling takes the official 26 DiT
evaluations for 25 steps.

Usage:
    python benchmarks/bench_generate.py --model-dir DIR --write-random --dtypes fp32 bf16 fp16
    python benchmarks/bench_generate.py --model-dir DIR --steps 3 --repeats 2 --json out.json
    python benchmarks/bench_generate.py --model-dir DIR --reference-dir OFFICIAL --dtypes fp32
    python benchmarks/bench_generate.py --model-dir DIR --dtypes bf16 --weight-dtype fp8_e4m3fn

``--weight-dtype`` stores the Linear and convolution weights of all three models in another
dtype (fp8 for instance) while they compute in the ``--dtypes`` precision, as the loaders'
``weight_dtype`` does.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
sys.path.insert(0, str(ROOT))

from process_memory import reset_peak, status_bytes  # noqa: E402

PROMPT = (
    "<|caption|> A dog barks in a park while rain falls <|sfx|> a dog barking "
    "<|env|> steady rain on leaves"
)
GIB = 1024**3


class Stages:
    """Times each stage and records RSS before, after and at its peak."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def run(self, name: str, fn):
        gc.collect()
        before = status_bytes("VmRSS")
        reset = reset_peak()
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
        after = status_bytes("VmRSS")
        peak = status_bytes("VmHWM") if reset else None
        self.rows.append(
            {
                "stage": name,
                "seconds": round(seconds, 3),
                "rss_before_gib": _gib(before),
                "rss_after_gib": _gib(after),
                "rss_peak_gib": _gib(peak),
            }
        )
        print(f"  {name}: {seconds:.1f} s, peak {_gib(peak)} GiB", file=sys.stderr, flush=True)
        return result


def _gib(value: int | None) -> float | None:
    return None if value is None else round(value / GIB, 3)


def child(args: argparse.Namespace) -> dict:
    """One run in this (fresh) process; returns its measurements."""
    import torch

    from audiogen_core.checkpoints import (
        load_audio_tokenizer,
        load_generator,
        load_text_encoder,
        resolve_model_dirs,
    )
    from audiogen_core.models.ops import weight_dtype_from_name
    from audiogen_core.pipeline import AudioGenPipeline
    from audiogen_core.runtime.devices import DTYPE_NAMES

    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = DTYPE_NAMES[args.child_dtype]
    weight_dtype = weight_dtype_from_name(args.weight_dtype)
    device = torch.device(args.device)
    folders = resolve_model_dirs(args.model_dir)
    stages = Stages()
    step_marks: list[float] = []

    def mark(step: int, total: int) -> None:
        _synchronize(device)
        step_marks.append(time.perf_counter())

    # The command line's order: one model in memory at a time.
    bundled = folders["generator"] / "tokenizer.json"
    pipe = AudioGenPipeline()
    pipe.text_encoder = stages.run(
        "load text encoder",
        lambda: load_text_encoder(
            folders["text_encoder"],
            device,
            dtype,
            bundled if bundled.is_file() else None,
            weight_dtype=weight_dtype,
        ),
    )
    text = stages.run("encode text", lambda: pipe.encode_text(PROMPT))
    pipe.text_encoder = None
    stages.run("free text encoder", gc.collect)
    pipe.generator = stages.run(
        "load generator",
        lambda: load_generator(folders["generator"], device, dtype, weight_dtype=weight_dtype),
    )
    start: list[float] = []
    if args.child == "ours":
        cond = stages.run("condition", lambda: pipe.condition(text))

        def sample():
            start.append(time.perf_counter())
            return pipe.sample(
                cond, seed=0, steps=args.steps, duration_s=args.seconds, callback=mark
            )

        latent = stages.run("sample", sample)
        evaluations = args.steps
    else:
        latent, evaluations = _reference_sampling(args, pipe, text, stages, mark, start)
    pipe.generator = None
    stages.run("free generator", gc.collect)
    pipe.audio_tokenizer = stages.run(
        "load audio tokenizer (decoder)",
        lambda: load_audio_tokenizer(
            folders["audio_tokenizer"],
            device,
            dtype,
            include_encoder=False,
            weight_dtype=weight_dtype,
        ),
    )
    stages.run("decode", lambda: pipe.decode(latent))
    marks = start[:1] + step_marks
    step_seconds = [round(b - a, 3) for a, b in zip(marks, marks[1:], strict=False)]
    return {
        "impl": args.child,
        "dtype": args.child_dtype,
        "weight_dtype": args.weight_dtype,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "steps": args.steps,
        "dit_evaluations": evaluations,
        "seconds_of_audio": args.seconds,
        "prompt_tokens": text.token_counts[0],
        "stages": stages.rows,
        "step_seconds": step_seconds,
        "median_step_seconds": statistics.median(step_seconds) if step_seconds else None,
        "peak_rss_gib": max(r["rss_peak_gib"] or 0 for r in stages.rows),
    }


def _reference_sampling(args, pipe, text, stages: Stages, mark, start: list[float]):
    """The official generate(): our T5 states in, the same noise, the latent caught."""
    import torch
    from bench_vs_reference import LatentCatcher, import_reference, randn_returns

    from audiogen_core.checkpoints import GENERATOR, read_config, resolve_model_dirs
    from audiogen_core.sampling.latent import AudioLatent
    from audiogen_core.sampling.noise import seeded_noise

    generator = pipe.generator
    config = read_config(resolve_model_dirs(args.model_dir)["generator"], GENERATOR)
    modeling, configuration = import_reference(args.reference_dir)
    with torch.device("meta"):
        reference = modeling.DashengAudioGenModel(configuration.DashengAudioGenConfig(**config))
    reference.load_state_dict(generator.state_dict(), strict=True, assign=True)
    reference.eval().requires_grad_(False)
    reference.audio_tokenizer = LatentCatcher()
    frames = round(args.seconds * generator.frame_rate)
    with torch.no_grad():  # the global duration head predicts exactly --seconds, as ours is told
        head = reference.content_adapter.global_duration_mlp[3]
        head.weight.zero_()
        head.bias.fill_(math.log(frames / generator.frame_rate + generator.duration_offset))
    projection = reference.content_encoder.text_encoder.proj
    hidden, mask = text.hidden.to(generator.device), text.mask.to(generator.device)
    reference.encode_text = lambda prompts: (projection(hidden.to(projection.weight.dtype)), mask)
    reference.backbone.register_forward_hook(lambda *_: mark(0, 0))
    noise = seeded_noise([0], int(generator.latent_dim), frames).to(generator.device)

    def sample():
        start.append(time.perf_counter())
        with randn_returns(noise), torch.no_grad():
            reference.generate([PROMPT], args.steps, 5.0, -1.0)
        return AudioLatent(
            latent=reference.audio_tokenizer.latent.float().cpu(),
            lengths=torch.tensor([frames]),
            num_samples=[round(args.seconds * generator.sample_rate)],
            frame_rate=int(generator.frame_rate),
            sample_rate=int(generator.sample_rate),
        )

    latent = stages.run("sample", sample)
    return latent, len(reference.scheduler.timesteps)


def _synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def machine() -> dict:
    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="the three snapshots")
    parser.add_argument(
        "--write-random",
        action="store_true",
        help="first write random full-size snapshots into --model-dir (kept if already there)",
    )
    parser.add_argument(
        "--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "fp16"]
    )
    parser.add_argument(
        "--weight-dtype",
        default="default",
        choices=["default", "bf16", "fp16", "fp8_e4m3fn", "fp8_e5m2"],
        help="storage of the Linear/convolution weights (default: the compute precision)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=25, help="sampling steps (few for timing)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the scene")
    parser.add_argument("--repeats", type=int, default=1, help="runs per precision")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--reference-dir", type=Path, help="official modeling files, side by side")
    parser.add_argument("--json", type=Path, help="also write all results to this file")
    parser.add_argument("--child", choices=("ours", "reference"), help=argparse.SUPPRESS)
    parser.add_argument("--child-dtype", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return
    if args.write_random:
        from full_size_snapshots import write_random_snapshots

        write_random_snapshots(args.model_dir)
    impls = ["ours"] + (["reference"] if args.reference_dir else [])
    results = []
    for repeat in range(args.repeats):
        order = [(impl, d) for d in args.dtypes for impl in impls]
        for impl, dtype in order if repeat % 2 == 0 else order[::-1]:
            print(f"{impl} {dtype} (repeat {repeat + 1}/{args.repeats})", file=sys.stderr)
            command = [
                sys.executable,
                __file__,
                "--child",
                impl,
                "--child-dtype",
                dtype,
                "--model-dir",
                str(args.model_dir),
                "--device",
                args.device,
                "--steps",
                str(args.steps),
                "--seconds",
                str(args.seconds),
                "--threads",
                str(args.threads),
                "--weight-dtype",
                args.weight_dtype,
            ]
            if args.reference_dir:
                command += ["--reference-dir", str(args.reference_dir)]
            out = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(result)
            print(json.dumps(result), flush=True)
    summary = {
        "machine": machine(),
        "steps": args.steps,
        "seconds": args.seconds,
        "weight_dtype": args.weight_dtype,
        "runs": results,
    }
    for impl in impls:
        for dtype in args.dtypes:
            runs = [r for r in results if r["impl"] == impl and r["dtype"] == dtype]
            steps = [s for r in runs for s in r["step_seconds"]]
            print(
                f"{impl:9s} {dtype} (weights {args.weight_dtype}): median step "
                f"{statistics.median(steps):.2f} s, peak RSS "
                f"{max(r['peak_rss_gib'] for r in runs):.2f} GiB "
                f"({', '.join(str(r['peak_rss_gib']) for r in runs)})",
                file=sys.stderr,
            )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
