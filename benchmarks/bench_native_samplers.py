"""ComfyUI's samplers on the model at fewer steps: how far from the official 25-step result.

For a random generator of the official architecture (the tiny test model, or a resized or
full-size random one), samples one prompt with the pack's sampler (euler, 25 sway steps,
guidance 5: the official result) and then with ComfyUI's SamplerCustomAdvanced + CFGGuider on
the AudioGen Sway Scheduler, for euler, dpmpp_2m, res_multistep and heun at 8, 12 and 16 steps,
from the same noise. Reports the latent's relative L2 distance to the official one, its largest
difference, the DiT evaluations and the seconds per step.

Random weights say nothing about how the audio sounds: the table shows how closely each solver
follows the official trajectory with fewer steps, so that a user with the real weights knows
what to try first.

Needs a ComfyUI checkout and ComfyUI's Python environment:
    python benchmarks/bench_native_samplers.py --comfyui /path/to/ComfyUI --model tiny
    python benchmarks/bench_native_samplers.py --comfyui /path/to/ComfyUI --model random \
        [--embed-dim 1536 --depth 32 --heads 24 --latent-dim 1280 --content-dim 1024]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests" / "support"))

from generator_sizes import add_size_arguments, resized_generator_config  # noqa: E402

SAMPLERS = ("euler", "dpmpp_2m", "res_multistep", "heun")
STEPS = (8, 12, 16)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comfyui", required=True, help="a ComfyUI checkout (0.3.64 or newer)")
    parser.add_argument("--model", choices=("tiny", "random"), default="tiny")
    add_size_arguments(parser, latent_dim=256, content_dim=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance", type=float, default=5.0)
    return parser.parse_args()


def load_comfyui(root: str):
    """ComfyUI's modules on the CPU, and this pack imported as ComfyUI imports a custom node."""
    sys.path.insert(0, root)
    import comfy.options

    comfy.options.enable_args_parsing(False)
    from comfy.cli_args import args

    args.cpu = True
    import comfy_extras.nodes_custom_sampler as custom

    spec = importlib.util.spec_from_file_location(
        "audiogen_pack", REPO / "__init__.py", submodule_search_locations=[str(REPO)]
    )
    pack = importlib.util.module_from_spec(spec)
    sys.modules["audiogen_pack"] = pack
    spec.loader.exec_module(pack)
    return custom, pack


def build(args: argparse.Namespace):
    """(generator, conditioning) of one prompt."""
    from audiogen_core.checkpoints.loaders import load_generator
    from audiogen_core.conditioning.encoded import Conditioning, condition
    from audiogen_core.models.generator import DashengAudioGenerator

    torch.manual_seed(args.seed)
    if args.model == "tiny":
        from tiny_snapshots import write_tiny_snapshots

        folder = write_tiny_snapshots(Path(tempfile.mkdtemp()))
        generator = load_generator(folder / "Dasheng-AudioGen")
        frames = 25
    else:
        config = resized_generator_config(args)
        if config["content_dim"] % config["adapter_num_heads"]:  # the official 16 fit 1024
            config["adapter_num_heads"] = args.heads
        generator = DashengAudioGenerator.from_config(config).eval()
        with torch.no_grad():
            generator.dummy_ta_embed.normal_()
        frames = args.frames
    content = generator.dummy_ta_embed.shape[0]
    hidden = torch.randn(1, args.tokens, content)
    cond = condition(generator, hidden, torch.ones(1, args.tokens, dtype=torch.bool))
    cond = cond.with_lengths(torch.tensor([frames]))
    return generator, Conditioning(["random prompt"], cond, [args.tokens], generator.frame_rate)


def main() -> None:
    args = parse_args()
    custom, pack = load_comfyui(args.comfyui)
    from audiogen_core.sampling.noise import seeded_noise
    from audiogen_core.sampling.sampler import sample

    native = pack.nodes.native
    from comfy.model_patcher import ModelPatcher

    generator, cond = build(args)
    model = ModelPatcher(native.sampling_module(generator), torch.device("cpu"), "cpu")
    inputs = native.conditioning.native_inputs(generator, cond, None, 1, "blend")
    frames = inputs.latent["samples"].shape[-1]
    noise = seeded_noise([args.seed], generator.latent_dim, frames)
    calls = []
    dit = generator.backbone
    evaluate = dit.velocity

    def counted(x, timesteps, constants):
        calls.append(1)
        return evaluate(x, timesteps, constants)

    dit.velocity = counted
    with torch.inference_mode():
        start = time.perf_counter()
        official = sample(generator, cond.tensors, noise, 25, args.guidance, -1.0)
        official_step = (time.perf_counter() - start) / 25
        rows = []
        for sampler in SAMPLERS:
            for steps in STEPS:
                sigmas = native.sampling.sway_sigmas(steps, -1.0, 1.0)
                guider = custom.CFGGuider().get_guider(
                    model, inputs.positive, inputs.negative, args.guidance
                )[0]
                chosen = custom.KSamplerSelect().get_sampler(sampler)[0]
                calls.clear()
                start = time.perf_counter()
                out = guider.sample(
                    noise.clone(), inputs.latent["samples"], chosen, sigmas, seed=args.seed
                )
                seconds = time.perf_counter() - start
                diff = (out.float() - official).flatten()
                rows.append(
                    (
                        sampler,
                        steps,
                        float(diff.norm() / official.flatten().norm()),
                        float(diff.abs().max()),
                        len(calls),
                        seconds / steps,
                    )
                )
    sizes = f"{sum(p.numel() for p in dit.parameters()) / 1e6:.1f} M DiT parameters"
    print(f"model {args.model} ({sizes}), {frames} frames, guidance {args.guidance}")
    print(f"official sampler: 25 steps, {official_step:.3f} s per step")
    print("| sampler | steps | relative L2 to official | max abs diff | DiT calls | s / step |")
    print("| --- | --- | --- | --- | --- | --- |")
    for sampler, steps, rel, worst, evaluations, per_step in rows:
        print(f"| {sampler} | {steps} | {rel:.4f} | {worst:.3f} | {evaluations} | {per_step:.3f} |")
    best = {s: statistics.fmean(r[2] for r in rows if r[0] == s) for s in SAMPLERS}
    print("mean relative L2 over 8/12/16 steps:", {k: round(v, 4) for k, v in best.items()})


if __name__ == "__main__":
    main()
