"""GGUF (Q8_0 / Q4_0) against plain and fp8 weight storage at full size: memory and step time.

    python benchmarks/bench_gguf.py --snapshots WEIGHTS --work GGUF_DIR [--memory] [--ab]

``WEIGHTS`` holds the three official snapshots (random full-size ones from
``full_size_snapshots.py`` do: only the values differ). The Q8_0 and Q4_0 sets are written into
``GGUF_DIR/q8_0`` and ``GGUF_DIR/q4_0`` by the package's ``convert`` (timed) unless already
there. flan-t5's ``spiece.model`` is part of the set; where the snapshot has none (the random
ones do not), a small stand-in is trained so that the set is complete: the benchmark's prompt is
tokenized with the snapshot's tokenizer.json either way.

``--memory``: one fresh process per storage choice runs a 10 s scene in the command line's
order (one model at a time) through ``bench_generate.py``; its peak RSS is the run's.

``--accuracy``: the difference of the final latent against fp32 on the golden generation cases
(tiny random-weight models, as ``bench_weight_dtypes.py`` reports it for fp8), with the DiT
written in audiogen.cpp's layout as F16, Q8_0 and Q4_0, computed in fp32 and in bf16.

``--layers``: the Linear layers of one full-size DiT block, each timed on its own (one thread,
thread CPU time, so other jobs on the machine hardly move the figures) with plain weights in the
compute dtype, fp8_e4m3fn storage, Q8_0 and Q4_0, at the token counts of a 10 s scene with
guidance (500 rows; 2 for the time modulation, 80 for the cross-attention keys and values).
Their sum per block bounds the step-time ratio from above: attention, norms and the rest cost
the same with every storage and are left out.

``--ab``: one process holds the generators (plain weights in the compute dtype, fp8_e4m3fn
storage, Q8_0, Q4_0) and times single sampling steps (one DiT evaluation on the doubled
guidance batch, 250 frames) round by round, the order rotated each round, so that every
variant sees the same moments of a shared machine. Ratios are taken within each round.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

PROMPT = "<|caption|> A dog barks twice in a rainy street while a man speaks calmly."
QUANTS = ("q8_0", "q4_0")
DIT_FILES = {"q8_0": "dit_Q8_0.gguf", "q4_0": "dit_Q4_0.gguf"}


def _text_encoder_with_spiece(snapshots: Path, work: Path) -> Path:
    """The snapshot's flan-t5 folder, or a view of it (links) with a stand-in spiece.model."""
    source = snapshots / "flan-t5-large"
    if (source / "spiece.model").is_file():
        return source
    view = work / "flan-t5-large"
    view.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if not (view / item.name).exists():
            (view / item.name).symlink_to(item.resolve())
    if not (view / "spiece.model").is_file():
        import io

        import sentencepiece

        model = io.BytesIO()
        corpus = [PROMPT, "A woman sings softly over a piano.", "Thunder rolls, rain falls."]
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(corpus * 50),
            model_writer=model,
            vocab_size=60,
            hard_vocab_limit=False,
            pad_id=0,
            eos_id=1,
            unk_id=2,
            bos_id=-1,
            minloglevel=2,
        )
        (view / "spiece.model").write_bytes(model.getvalue())
    return view


def prepare(snapshots: Path, work: Path) -> dict:
    """Write the Q8_0 and Q4_0 sets (timed) unless they are there."""
    from audiogen_core.checkpoints.gguf_writer import plan_gguf_set

    text_encoder = _text_encoder_with_spiece(snapshots, work)
    timings = {}
    for quant in QUANTS:
        out = work / quant
        if (out / DIT_FILES[quant]).is_file():
            continue
        plan = plan_gguf_set(
            snapshots / "Dasheng-AudioGen",
            text_encoder,
            snapshots / "dashengtokenizer",
            out,
            quant,
        )
        start = time.perf_counter()
        plan.write()
        timings[quant] = round(time.perf_counter() - start, 1)
        sizes = {p.name: round(p.stat().st_size / 2**30, 3) for p in out.iterdir()}
        print(f"convert {quant}: {timings[quant]} s, GiB {sizes}", file=sys.stderr, flush=True)
    return timings


def memory(snapshots: Path, work: Path, dtype: str, steps: int) -> list[dict]:
    """Peak RSS of a full 10 s run per storage choice, each in a fresh process."""
    runs = [
        ("q8_0", work / "q8_0", "default"),
        ("q4_0", work / "q4_0", "default"),
        ("fp8_e4m3fn", snapshots, "fp8_e4m3fn"),
    ]
    results = []
    for name, model_dir, weight_dtype in runs:
        command = [
            sys.executable,
            str(HERE / "bench_generate.py"),
            "--child",
            "ours",
            "--child-dtype",
            dtype,
            "--model-dir",
            str(model_dir),
            "--steps",
            str(steps),
            "--seconds",
            "10",
            "--weight-dtype",
            weight_dtype,
        ]
        print(f"memory: {name}", file=sys.stderr, flush=True)
        out = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["storage"] = name
        results.append(result)
        print(json.dumps(result), flush=True)
    return results


def _shallow_generator(work: Path, depth: int) -> tuple[Path, dict[str, Path]]:
    """A random generator of the official widths with ``depth`` DiT blocks, as safetensors and
    as Q8_0 / Q4_0 GGUF (audiogen.cpp's layout): every block is one of the full model's, so
    the per-step ratios are the full model's at a fraction of the time and memory."""
    import torch
    from generator_sizes import official_generator_config
    from safetensors.torch import save_file

    sys.path.insert(0, str(HERE.parent / "tests" / "support"))
    from gguf_files import write_dit

    from audiogen_core.models.generator import DashengAudioGenerator

    folder = work / f"depth{depth}" / "Dasheng-AudioGen"
    if not (folder / "model.safetensors").is_file():
        config = {**official_generator_config(), "dit_depth": depth}
        torch.manual_seed(0)
        model = DashengAudioGenerator.from_config(config)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in model.state_dict().items() if v.numel()}
        save_file(state, str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps(config))
    files = {}
    for quant in QUANTS:
        files[quant] = folder.parent / DIT_FILES[quant]
        if not files[quant].is_file():
            write_dit(folder, files[quant], quant)
    return folder, files


def ab(
    snapshots: Path, work: Path, dtype_name: str, rounds: int, variants: list[str], depth: int
) -> dict:
    """Seconds per sampling step of each variant, interleaved round by round."""
    import torch

    from audiogen_core.checkpoints import load_generator, load_text_encoder
    from audiogen_core.pipeline import AudioGenPipeline
    from audiogen_core.runtime.devices import DTYPE_NAMES

    dtype = DTYPE_NAMES[dtype_name]
    pipe = AudioGenPipeline(
        text_encoder=load_text_encoder(work / "q8_0" / "t5_encoder.gguf", "cpu", dtype)
    )
    text = pipe.encode_text(PROMPT)
    pipe.text_encoder = None
    gc.collect()
    generator = snapshots / "Dasheng-AudioGen"
    files = {quant: work / quant / DIT_FILES[quant] for quant in QUANTS}
    if depth:
        generator, files = _shallow_generator(work, depth)
    sources = {
        "plain": (generator, None),
        "fp8_e4m3fn": (generator, torch.float8_e4m3fn),
        "q8_0": (files["q8_0"], None),
        "q4_0": (files["q4_0"], None),
    }
    pipes, conds = {}, {}
    for name in variants:
        path, weight_dtype = sources[name]
        start = time.perf_counter()
        generator = load_generator(path, "cpu", dtype, weight_dtype=weight_dtype)
        pipes[name] = AudioGenPipeline(generator=generator)
        conds[name] = pipes[name].condition(text)
        print(f"loaded {name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    # Wall seconds, and CPU seconds of this process (all its threads): on a machine shared
    # with other jobs the CPU time is the steadier measure of the work a step does.
    times: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in variants}
    for round_index in range(rounds + 1):  # round 0 warms up and is not counted
        shift = round_index % len(variants)
        for name in variants[shift:] + variants[:shift]:
            wall, cpu = time.perf_counter(), time.process_time()
            pipes[name].sample(conds[name], seed=0, steps=1, duration_s=10.0)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if round_index:
                times[name]["wall"].append(round(wall, 2))
                times[name]["cpu"].append(round(cpu, 2))
            print(
                f"round {round_index} {name}: {wall:.2f} s wall, {cpu:.2f} s cpu",
                file=sys.stderr,
                flush=True,
            )
    summary = {}
    for name, measured in times.items():
        row = {}
        for kind, values in measured.items():
            row[kind] = values
            row[f"median_{kind}"] = statistics.median(values)
            base = times.get("plain", {}).get(kind)
            if base:
                ratios = [round(v / b, 3) for v, b in zip(values, base, strict=True)]
                row[f"{kind}_ratio_to_plain_per_round"] = ratios
                row[f"median_{kind}_ratio"] = statistics.median(ratios)
        summary[name] = row
    return {
        "dtype": dtype_name,
        "dit_depth": depth or 32,
        "threads": torch.get_num_threads(),
        "steps": summary,
    }


def accuracy() -> list[dict]:
    """Max abs latent error / largest fp32 value per golden case, quantization and compute."""
    import dataclasses
    import tempfile

    import torch

    sys.path.insert(0, str(HERE.parent / "tests" / "support"))
    from bench_weight_dtypes import GOLDEN, _generate
    from gguf_files import write_dit
    from golden_io import load_case
    from safetensors.torch import save_file

    from audiogen_core.checkpoints import load_generator

    rows = []
    for path in sorted(GOLDEN.glob("case_c*_generate_*.safetensors")):
        case = load_case(path)
        reference, lengths = _generate(case, torch.float32, None)
        scale = float(reference.abs().max())
        args = case.meta["non_tensor_args"]
        with tempfile.TemporaryDirectory() as tmp:
            snapshot = Path(tmp)
            (snapshot / "config.json").write_text(json.dumps(case.meta["generator_config"]))
            save_file(dict(case.weights), str(snapshot / "model.safetensors"))
            for quant in ("f16", "q8_0", "q4_0"):
                dit = write_dit(snapshot, snapshot / f"{quant}.gguf", quant)
                for compute_name, compute in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
                    model = load_generator(dit, "cpu", compute)
                    with torch.inference_mode():
                        cond = model.condition(case.inputs["t5_hidden"], case.inputs["t5_mask"])
                        cond = dataclasses.replace(cond, latent_lengths=lengths)
                        latent = model.sample(
                            cond,
                            case.inputs["noise"],
                            steps=args["num_steps"],
                            guidance=args["guidance_scale"],
                            sway=args["sway_sampling_coef"],
                        )
                    error = float((latent.float() - reference).abs().max())
                    row = {
                        "case": case.name,
                        "gguf": quant,
                        "compute": compute_name,
                        "max_abs": round(error, 4),
                        "relative": round(error / scale, 4),
                    }
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def layers(dtype_name: str, repeats: int = 5) -> dict:
    """Thread CPU seconds of each Linear of one DiT block per storage, and the block sums."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    from generator_sizes import official_generator_config

    sys.path.insert(0, str(HERE.parent / "tests" / "support"))
    import gguf

    from audiogen_core.models.dit import LayerFusionDiT
    from audiogen_core.models.ops import CastOps, PlainOps
    from audiogen_core.models.quantized import BLOCK_FORMATS, hold_blocks, with_quantized_linear
    from audiogen_core.runtime.devices import DTYPE_NAMES

    torch.set_num_threads(1)
    dtype = DTYPE_NAMES[dtype_name]
    config = {**official_generator_config(), "dit_depth": 3}  # in, mid and out block
    with torch.device("meta"):
        dit = LayerFusionDiT.from_config(config, PlainOps)
    block = dit.out_blocks[0]  # the out blocks also have the skip projection
    rows = {"adaln.time_ada": 2, "cross_attn.to_k": 80, "cross_attn.to_v": 80}

    def cpu_seconds(fn) -> float:
        fn()
        runs = []
        for _ in range(repeats):
            start = time.thread_time()
            fn()
            runs.append(time.thread_time() - start)
        return statistics.median(runs)

    table, totals = [], {}
    with torch.inference_mode():
        for name, module in block.named_modules():
            if not isinstance(module, torch.nn.Linear):
                continue
            tokens = rows.get(name, 500)
            x = torch.randn(tokens, module.in_features, dtype=dtype)
            weight = torch.randn(module.out_features, module.in_features) * 0.02
            row = {
                "layer": name,
                "shape": [module.out_features, module.in_features],
                "rows": tokens,
            }
            plain = weight.to(dtype)
            row["plain"] = cpu_seconds(lambda x=x, w=plain: F.linear(x, w))
            fp8 = CastOps.Linear(module.in_features, module.out_features, bias=False)
            fp8.weight.data = weight.to(torch.float8_e4m3fn)
            row["fp8_e4m3fn"] = cpu_seconds(lambda x=x, layer=fp8: layer(x))
            # torch's own float8 cast, as CastOps expanded fp8 weights before
            stored = fp8.weight
            row["fp8_torch_cast"] = cpu_seconds(lambda x=x, w=stored: F.linear(x, w.to(x.dtype)))
            for quant in QUANTS:
                ops = with_quantized_linear(CastOps)
                layer = ops.Linear(module.in_features, module.out_features, bias=False)
                kind = gguf.GGMLQuantizationType[quant.upper()]
                blocks = torch.from_numpy(gguf.quants.quantize(weight.numpy(), kind))
                hold_blocks(layer, blocks, BLOCK_FORMATS[quant.upper()])
                row[quant] = cpu_seconds(lambda x=x, layer=layer: layer(x))
            table.append(row)
            for key in ("plain", "fp8_e4m3fn", "fp8_torch_cast", *QUANTS):
                totals[key] = totals.get(key, 0.0) + row[key]
            print(json.dumps(row), file=sys.stderr, flush=True)
    ratios = {key: round(value / totals["plain"], 3) for key, value in totals.items()}
    return {"dtype": dtype_name, "layers": table, "block_seconds": totals, "ratio": ratios}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=Path, required=True, help="the three snapshots")
    parser.add_argument("--work", type=Path, required=True, help="where the GGUF sets go")
    parser.add_argument("--memory", action="store_true", help="peak RSS per storage choice")
    parser.add_argument("--memory-steps", type=int, default=2)
    parser.add_argument("--accuracy", action="store_true", help="golden-case latent errors")
    parser.add_argument("--layers", action="store_true", help="per-layer CPU time per storage")
    parser.add_argument("--ab", action="store_true", help="interleaved step times")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--depth",
        type=int,
        default=0,
        help="time a random generator of the official widths with this many DiT blocks "
        "instead of the full one (0: the full generator from --snapshots)",
    )
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp32", "fp16"])
    parser.add_argument("--variants", nargs="+", default=["plain", "fp8_e4m3fn", "q8_0", "q4_0"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = {"convert_seconds": prepare(args.snapshots, args.work)}
    if args.accuracy:
        results["accuracy"] = accuracy()
    if args.memory:
        results["memory"] = memory(args.snapshots, args.work, args.dtype, args.memory_steps)
    if args.layers:
        results["layers"] = layers(args.dtype)
    if args.ab:
        results["ab"] = ab(
            args.snapshots, args.work, args.dtype, args.rounds, args.variants, args.depth
        )
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
