"""Our generator against the official Dasheng-AudioGen modeling code: speed and agreement.

The official code is what the Hugging Face snapshot ``mispeech/Dasheng-AudioGen`` ships for
``trust_remote_code`` (``modeling_dasheng_audiogen.py``, ``dit.py``, ``attention.py``, ...).
Point ``--reference-dir`` at a folder holding those files: a downloaded snapshot folder, or a
checkout of a copy of them. The folder is imported as a package under a private name; nothing
in it is modified and nothing is written to it.

A random generator of the official architecture is built with configurable sizes (the default
is a 107 M-parameter DiT, width 512 and depth 12, with the official latent, text and head
widths: about two minutes on a 2-core CPU, three with ``--memory``; ``--full`` selects the
official 2.2 B-parameter size). Both implementations use the very same weight tensors (the
reference module is built on the meta device and the state dict of ours is assigned to it).
The global-duration head is set so that both predict the requested length (``--frames``,
250 = 10 s). Measured, in float32 on the CPU:

* one DiT evaluation, batch 2 (one prompt with classifier-free guidance), ``--tokens`` context
  tokens: the reference's ``backbone(...)``, ours ``backbone(...)`` with the same inputs, and
  ours ``backbone.velocity`` from prepared step constants (what our sampler runs per step);
  median of ``--runs`` runs after a warm-up, the two implementations alternating;
* a whole sampling call with the defaults (25 steps, guidance 5, sway -1): the reference's own
  ``generate()`` with the T5 encoder bypassed (its text projection kept), ``torch.randn``
  answered with the shared noise and the audio decoder replaced by a catcher of the final
  latent; ours ``condition()`` + ``sample()`` from the same T5 states and noise. Median of
  ``--repeats`` calls, the order alternating from call to call;
* the max abs difference of the outputs, relative to max|reference output|;
* with ``--memory``: peak resident memory of one sampling call of each implementation, each in
  a fresh process (Linux: the peak is reset just before the call, so this is the call's own).

Usage:
    python benchmarks/bench_vs_reference.py --reference-dir PATH/TO/Dasheng-AudioGen
    python benchmarks/bench_vs_reference.py --reference-dir DIR --embed-dim 768 --heads 12
    python benchmarks/bench_vs_reference.py --reference-dir DIR --full --steps 4 --repeats 1
    python benchmarks/bench_vs_reference.py --reference-dir DIR --memory --json out.json

Needs ``transformers`` (the official modeling file imports it); the official file does not
load T5 or the audio tokenizer in its constructor, only in ``from_pretrained``, which is not
used here, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.machinery
import importlib.util
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generator_sizes import add_size_arguments, resized_generator_config  # noqa: E402
from process_memory import reset_peak, status_bytes  # noqa: E402

from audiogen_core.conditioning.encoded import condition  # noqa: E402
from audiogen_core.models.generator import DashengAudioGenerator  # noqa: E402
from audiogen_core.sampling.guidance import dit_inputs  # noqa: E402
from audiogen_core.sampling.sampler import sample  # noqa: E402
from audiogen_core.sampling.schedules import sigma_schedule, timesteps_from_sigmas  # noqa: E402

MIB = 1024**2

# The trust_remote_code files the generator needs (modeling_dasheng_audiogen.py imports them).
REFERENCE_FILES = (
    "modeling_dasheng_audiogen.py",
    "configuration_dasheng_audiogen.py",
    "dit.py",
    "attention.py",
    "modules.py",
    "content_adapter.py",
    "scheduler.py",
    "utils.py",
)
REFERENCE_PACKAGE = "_dasheng_audiogen_reference"

FULL_SIZE = {"embed_dim": 1536, "depth": 32, "heads": 24}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference-dir",
        type=Path,
        required=True,
        help="folder with the official modeling files (modeling_dasheng_audiogen.py, dit.py, ...)",
    )
    parser.add_argument("--full", action="store_true", help="official DiT size (1536 x 32)")
    add_size_arguments(parser, latent_dim=1280, content_dim=1024)
    parser.add_argument("--steps", type=int, default=25, help="sampling steps")
    parser.add_argument("--guidance", type=float, default=5.0, help="CFG scale")
    parser.add_argument("--sway", type=float, default=-1.0, help="sway sampling coefficient")
    parser.add_argument("--runs", type=int, default=5, help="timed DiT evaluations per path")
    parser.add_argument("--repeats", type=int, default=2, help="timed sampling calls per path")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, inputs and noise")
    parser.add_argument(
        "--memory", action="store_true", help="also peak RSS of a sampling call (subprocesses)"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--memory-child", choices=("ours", "reference"), help=argparse.SUPPRESS
    )  # internal: one measurement in a fresh process
    args = parser.parse_args(argv)
    if args.full:
        for key, value in FULL_SIZE.items():
            setattr(args, key, value)
    missing = [name for name in REFERENCE_FILES if not (args.reference_dir / name).is_file()]
    if missing:
        parser.error(
            f"--reference-dir {args.reference_dir} lacks the official modeling files "
            f"{', '.join(missing)}; pass the folder of a mispeech/Dasheng-AudioGen snapshot "
            "(or of a copy of its trust_remote_code .py files)"
        )
    return args


# --------------------------------------------------------------------------------------------
# Loading the official code


def import_reference(folder: Path):
    """The official modeling and configuration modules, imported as a private package."""
    try:
        import transformers  # noqa: F401  (the official modeling file imports it)
    except ImportError as error:
        raise SystemExit(
            "the official modeling code imports transformers; install it to run this benchmark"
        ) from error
    if REFERENCE_PACKAGE not in sys.modules:
        spec = importlib.machinery.ModuleSpec(REFERENCE_PACKAGE, None, is_package=True)
        package = importlib.util.module_from_spec(spec)
        package.__path__ = [str(folder.resolve())]
        sys.modules[REFERENCE_PACKAGE] = package
    write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # leave DIR as is
    try:
        modeling = importlib.import_module(f"{REFERENCE_PACKAGE}.modeling_dasheng_audiogen")
        configuration = importlib.import_module(
            f"{REFERENCE_PACKAGE}.configuration_dasheng_audiogen"
        )
    finally:
        sys.dont_write_bytecode = write_bytecode
    return modeling, configuration


class LatentCatcher:
    """Stands in for the audio tokenizer: keeps the latent ``generate()`` would decode."""

    latent: torch.Tensor | None = None

    def decode(self, latent_time_major: torch.Tensor) -> torch.Tensor:
        self.latent = latent_time_major.transpose(1, 2).clone()  # back to (b, latent_dim, t)
        return torch.zeros(latent_time_major.shape[0], 1)


@contextlib.contextmanager
def randn_returns(noise: torch.Tensor):
    """``torch.randn`` of the noise's shape answers with the noise (what generate() draws)."""
    original = torch.randn

    def randn(*size, **kwargs):
        shape = tuple(size[0]) if len(size) == 1 and not isinstance(size[0], int) else size
        if tuple(shape) != tuple(noise.shape):
            raise RuntimeError(
                f"the reference drew noise of shape {tuple(shape)}, ours has "
                f"{tuple(noise.shape)}: the predicted latent lengths differ"
            )
        device, dtype = kwargs.get("device") or noise.device, kwargs.get("dtype") or noise.dtype
        return noise.clone().to(device=device, dtype=dtype)

    torch.randn = randn
    try:
        yield
    finally:
        torch.randn = original


def build_reference(args: argparse.Namespace, config: dict, ours: DashengAudioGenerator):
    """The official ``DashengAudioGenModel`` holding the very tensors of ``ours``."""
    modeling, configuration = import_reference(args.reference_dir)
    with torch.device("meta"):  # no init; the constructor does not touch T5 or the tokenizer
        reference = modeling.DashengAudioGenModel(configuration.DashengAudioGenConfig(**config))
    reference.load_state_dict(ours.state_dict(), strict=True, assign=True)
    reference.eval()  # the adapter has active dropout in training mode
    reference.audio_tokenizer = LatentCatcher()
    return reference


# --------------------------------------------------------------------------------------------
# Model and inputs


@torch.no_grad()
def build_ours(args: argparse.Namespace, config: dict) -> DashengAudioGenerator:
    """Random weights, non-trivial everywhere; the duration head predicts ``args.frames``."""
    torch.manual_seed(args.seed)
    model = DashengAudioGenerator.from_config(config).float().eval()
    for module in model.modules():
        if isinstance(module, torch.nn.LayerNorm):  # gains around 1, small biases
            module.weight.add_(0.1 * torch.randn_like(module.weight))
            module.bias.normal_(0.0, 0.1)
    model.dummy_ta_embed.normal_()
    model.dummy_nta_embed.normal_()
    model.instruction_embedding.normal_()
    # Global head: constant log(seconds + offset), so that both predict exactly args.frames.
    head = model.content_adapter.global_duration_mlp[3]
    seconds = args.frames / model.frame_rate
    head.weight.zero_()
    head.bias.fill_(math.log(seconds + model.duration_offset))
    return model


def make_text(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """Stand-in for T5's last hidden state of one prompt, and its mask."""
    generator = torch.Generator().manual_seed(args.seed + 1)
    hidden = 0.3 * torch.randn(1, args.tokens, args.content_dim, generator=generator)
    return hidden, torch.ones(1, args.tokens, dtype=torch.bool)


def make_noise(args: argparse.Namespace, frames: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(args.seed + 2)
    return torch.randn(1, args.latent_dim, frames, generator=generator)


def relative_difference(ours: torch.Tensor, reference: torch.Tensor) -> float:
    ours, reference = ours.double(), reference.double()
    return ((ours - reference).abs().max() / reference.abs().max()).item()


# --------------------------------------------------------------------------------------------
# Measurements


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


@torch.inference_mode()
def bench_evaluation(args, ours, reference, t5_hidden, t5_mask) -> dict:
    """One DiT evaluation of the guided batch (uncond, cond), as inside a sampling step."""
    cond = condition(ours, t5_hidden, t5_mask)
    frames = int(cond.latent_lengths.max())
    x = make_noise(args, frames)
    x = torch.cat([x, x])
    # The tensors generate() hands to the backbone: the unconditional row first, zeros for its
    # context and time-aligned content, dummy_ta_embed on every frame of the conditional row.
    ta = ours.dummy_ta_embed.reshape(1, 1, -1).expand(1, frames, -1)
    ta = torch.cat([torch.zeros_like(ta), ta]).contiguous()
    context = torch.cat([torch.zeros_like(cond.context), cond.context])
    context_mask = torch.cat([cond.context_mask, cond.context_mask])
    x_mask = torch.ones(2, frames, dtype=torch.bool)
    sigmas = sigma_schedule(args.steps, args.sway)
    timestep = timesteps_from_sigmas(sigmas)[len(sigmas) // 2]  # a 0-dim float, mid-schedule
    constants = ours.prepare(dit_inputs(ours, cond, frames, True), frames)

    paths = {
        "reference": lambda: reference.backbone(
            x=x,
            timesteps=timestep,
            time_aligned_context=ta,
            context=context,
            x_mask=x_mask,
            context_mask=context_mask,
        ),
        "ours": lambda: ours.backbone(x, timestep, ta, context, x_mask, context_mask),
        "ours_cached": lambda: ours.backbone.velocity(x, timestep, constants),
    }
    names = list(paths)
    outputs = {name: paths[name]() for name in names}  # warm-up, not timed
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for run in range(args.runs):
        for name in names if run % 2 == 0 else names[::-1]:
            outputs[name], elapsed = timed(paths[name])
            seconds[name].append(elapsed)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    return {
        "batch": 2,
        "frames": frames,
        "tokens": int(context.shape[1]),
        "timestep": float(timestep),
        "seconds": medians,
        "all_seconds": seconds,
        "speedup_forward": medians["reference"] / medians["ours"],
        "speedup_cached": medians["reference"] / medians["ours_cached"],
        "max_rel_diff_forward": relative_difference(outputs["ours"], outputs["reference"]),
        "max_rel_diff_cached": relative_difference(outputs["ours_cached"], outputs["reference"]),
        "output_max_abs": outputs["reference"].abs().max().item(),
    }


def sample_ours(ours, t5_hidden, t5_mask, noise, steps, guidance, sway):
    counter = []
    with torch.inference_mode():
        cond = condition(ours, t5_hidden, t5_mask)
        latent = sample(
            ours,
            cond,
            noise,
            steps,
            guidance,
            sway,
            callback=lambda done, total: counter.append(done),
        )
    return latent, len(counter)


def sample_reference(reference, t5_hidden, t5_mask, noise, steps, guidance, sway):
    """The official generate(): T5 bypassed (projection kept), noise given, latent caught."""
    projection = reference.content_encoder.text_encoder.proj

    def encode_text(prompts):
        return projection(t5_hidden), t5_mask

    reference.encode_text = encode_text
    with randn_returns(noise):
        reference.generate(["prompt"] * t5_hidden.shape[0], steps, guidance, sway)
    return reference.audio_tokenizer.latent, len(reference.scheduler.timesteps)


def bench_sampling(args, ours, reference, t5_hidden, t5_mask) -> dict:
    frames = int(condition(ours, t5_hidden, t5_mask).latent_lengths.max())
    noise = make_noise(args, frames)
    paths = {
        "reference": lambda steps: sample_reference(
            reference, t5_hidden, t5_mask, noise, steps, args.guidance, args.sway
        ),
        "ours": lambda steps: sample_ours(
            ours, t5_hidden, t5_mask, noise, steps, args.guidance, args.sway
        ),
    }
    names = list(paths)
    for name in names:  # warm-up with 2 steps
        paths[name](2)
    latents, evaluations = {}, {}
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(args.repeats):
        for name in names if repeat % 2 == 0 else names[::-1]:
            (latents[name], evaluations[name]), elapsed = timed(paths[name], args.steps)
            seconds[name].append(elapsed)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    return {
        "steps": args.steps,
        "guidance": args.guidance,
        "sway": args.sway,
        "frames": frames,
        "dit_evaluations": evaluations,
        "seconds": medians,
        "all_seconds": seconds,
        "seconds_per_evaluation": {n: medians[n] / evaluations[n] for n in names},
        "speedup": medians["reference"] / medians["ours"],
        "max_rel_diff_latent": relative_difference(latents["ours"], latents["reference"]),
        "latent_max_abs": latents["reference"].abs().max().item(),
    }


# --------------------------------------------------------------------------------------------
# Peak memory, one implementation per fresh process


def memory_child(args: argparse.Namespace) -> None:
    import resource

    config = resized_generator_config(args)
    ours = build_ours(args, config)
    t5_hidden, t5_mask = make_text(args)
    frames = int(condition(ours, t5_hidden, t5_mask).latent_lengths.max())
    noise = make_noise(args, frames)
    if args.memory_child == "reference":
        model = build_reference(args, config, ours)
        del ours  # the reference holds the same tensors
        run = sample_reference
    else:
        model, run = ours, sample_ours
    before = status_bytes("VmRSS")
    reset = reset_peak()
    run(model, t5_hidden, t5_mask, noise, args.steps, args.guidance, args.sway)
    peak = status_bytes("VmHWM") if reset else None
    if peak is None:  # no resettable peak: the whole process's maximum (ru_maxrss is in KiB)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {"rss_before_mib": (before or 0) / MIB, "peak_mib": peak / MIB, "call_only": reset}
    print(json.dumps(result))


def bench_memory(argv: list[str]) -> dict:
    results = {}
    for name in ("reference", "ours"):
        command = [sys.executable, str(Path(__file__).resolve()), *argv, "--memory-child", name]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"memory measurement of {name} failed:\n{done.stderr}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["increase_mib"] = result["peak_mib"] - result["rss_before_mib"]
        results[name] = result
    return results


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args)
        return

    config = resized_generator_config(args)
    start = time.perf_counter()
    ours = build_ours(args, config)
    reference = build_reference(args, config, ours)
    t5_hidden, t5_mask = make_text(args)
    params = sum(p.numel() for p in ours.backbone.parameters())
    print(
        f"DiT: {params / 1e6:.1f} M parameters (width {args.embed_dim}, depth {args.depth}, "
        f"{args.heads} heads, latent {args.latent_dim}, text {args.content_dim}); float32 CPU, "
        f"{torch.get_num_threads()} threads; built in {time.perf_counter() - start:.1f} s"
    )

    evaluation = bench_evaluation(args, ours, reference, t5_hidden, t5_mask)
    sampling = bench_sampling(args, ours, reference, t5_hidden, t5_mask)
    memory = None
    if args.memory:
        child_argv = [a for a in argv if a != "--memory"]
        if "--json" in child_argv:
            index = child_argv.index("--json")
            del child_argv[index : index + 2]
        memory = bench_memory(child_argv)

    e, s = evaluation["seconds"], sampling["seconds"]
    n = sampling["dit_evaluations"]
    print(
        f"\none DiT evaluation (batch {evaluation['batch']}, {evaluation['frames']} frames, "
        f"{evaluation['tokens']} tokens), median of {args.runs}:"
    )
    print(f"  {'path':<28}{'seconds':>9}{'vs reference':>14}{'max rel diff':>14}")
    print(f"  {'reference backbone()':<28}{e['reference']:>9.3f}{'1.00x':>14}{'-':>14}")
    print(
        f"  {'ours backbone()':<28}{e['ours']:>9.3f}{evaluation['speedup_forward']:>13.2f}x"
        f"{evaluation['max_rel_diff_forward']:>14.1e}"
    )
    print(
        f"  {'ours velocity(constants)':<28}{e['ours_cached']:>9.3f}"
        f"{evaluation['speedup_cached']:>13.2f}x{evaluation['max_rel_diff_cached']:>14.1e}"
    )
    print(
        f"\nsampling call ({args.steps} steps, guidance {args.guidance}, sway {args.sway}, "
        f"{sampling['frames']} frames), median of {args.repeats}:"
    )
    print(f"  {'path':<28}{'seconds':>9}{'evals':>7}{'s/eval':>9}{'max rel diff':>14}")
    print(
        f"  {'reference generate()':<28}{s['reference']:>9.2f}{n['reference']:>7}"
        f"{sampling['seconds_per_evaluation']['reference']:>9.3f}{'-':>14}"
    )
    print(
        f"  {'ours condition()+sample()':<28}{s['ours']:>9.2f}{n['ours']:>7}"
        f"{sampling['seconds_per_evaluation']['ours']:>9.3f}"
        f"{sampling['max_rel_diff_latent']:>14.1e}"
    )
    print(f"  speed-up per sampling call: {sampling['speedup']:.2f}x")
    if memory:
        print("\npeak RSS of one sampling call (fresh process each):")
        for name, m in memory.items():
            scope = "call" if m["call_only"] else "process"
            print(
                f"  {name:<10} peak {m['peak_mib']:8.0f} MiB ({scope}), "
                f"{m['increase_mib']:+7.0f} MiB over the {m['rss_before_mib']:.0f} MiB before"
            )

    results = {
        "config": {
            key: getattr(args, key)
            for key in (
                "embed_dim",
                "depth",
                "heads",
                "latent_dim",
                "content_dim",
                "frames",
                "tokens",
                "steps",
                "guidance",
                "sway",
                "runs",
                "repeats",
                "seed",
            )
        },
        "dit_parameters": params,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "evaluation": evaluation,
        "sampling": sampling,
        "memory": memory,
    }
    text = json.dumps(results, indent=2)
    print("\n" + text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
