"""Weight memory and accuracy of each weight_dtype option, and the memory estimates at full size.

1. Weight memory of the full-size models per ``weight_dtype`` option, from parameter counts of
   models built on the meta device (no download needed): matrix weights in the option's dtype,
   the rest in the compute dtype (``audiogen_core.models.ops.storage_dtypes``).
2. Output difference against float32 on the golden generation cases (the reference-made
   ``case_c*`` fixtures: tiny random-weight models), for each option with float32 and bfloat16
   compute: max abs and max abs relative to the float32 output's largest value, on the final
   latent with the float32 run's latent lengths.
3. ``audiogen_core.runtime.memory`` estimates for the full-size models, and estimate /
   measured peak on the CPU for small models (as the tests check).
4. Seconds per sampling step on the CPU of a mid-size random DiT (width 512, depth 12, 10 s,
   guidance) with fp32 compute, per weight storage: the price of casting weights on the fly.

Usage:
    python benchmarks/bench_weight_dtypes.py
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "support"))

from generator_sizes import add_size_arguments, resized_generator_config  # noqa: E402
from golden_checks.audio_tokenizer import build_tokenizer  # noqa: E402
from golden_io import SHIPPED_GOLDEN_DIR, load_case  # noqa: E402
from memory_probe import peak_allocated_bytes  # noqa: E402

from audiogen_core.conditioning.encoded import condition  # noqa: E402
from audiogen_core.models.audio_tokenizer import DashengAudioTokenizer  # noqa: E402
from audiogen_core.models.derived_buffers import reset_derived_buffers  # noqa: E402
from audiogen_core.models.generator import DashengAudioGenerator  # noqa: E402
from audiogen_core.models.ops import WEIGHT_DTYPES, resolve_operations, storage_dtypes  # noqa: E402
from audiogen_core.models.text_encoder import T5Encoder  # noqa: E402
from audiogen_core.runtime.memory import (  # noqa: E402
    decoding_bytes,
    prompt_encoding_bytes,
    sampling_bytes,
)
from audiogen_core.sampling.sampler import sample  # noqa: E402

GOLDEN = SHIPPED_GOLDEN_DIR
OPTIONS = ["default", "bf16", "fp16", "fp8_e4m3fn", "fp8_e5m2"]
GIB = 1024**3


def _manifest_config(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text())["config"]


def _stored_bytes(model: torch.nn.Module, dtype: torch.dtype, weight_dtype) -> int:
    state = model.state_dict()
    dtypes = storage_dtypes(model, dtype, weight_dtype)
    total = 0
    for key, tensor in state.items():
        size = torch.empty((), dtype=dtypes.get(key, tensor.dtype), device="meta").element_size()
        total += tensor.numel() * size
    return total


def weight_memory_table() -> None:
    with torch.device("meta"):
        generator = DashengAudioGenerator.from_config(_manifest_config("manifest_generator.json"))
        t5 = T5Encoder.from_config(_manifest_config("manifest_t5_encoder.json"))
        decoder = DashengAudioTokenizer.from_config(
            _manifest_config("manifest_tokenizer.json"), include_encoder=False
        )
    parts = {
        "generator": generator,
        "  of which DiT": generator.backbone,
        "  of which conditioner": generator.conditioner,
        "text encoder (T5 encoder)": t5,
        "audio decoder": decoder,
    }
    print("## Full-size weight memory (GiB) per weight_dtype")
    print("| model | compute | " + " | ".join(OPTIONS) + " |")
    print("| --- | --- |" + " --- |" * len(OPTIONS))
    for compute_name, compute in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        for name, model in parts.items():
            cells = []
            for option in OPTIONS:
                weight_dtype = None if option == "default" else WEIGHT_DTYPES[option]
                cells.append(f"{_stored_bytes(model, compute, weight_dtype) / GIB:.2f}")
            print(f"| {name} | {compute_name} | " + " | ".join(cells) + " |")
    print()


def _generate(case, compute: torch.dtype, weight_dtype, lengths=None):
    config = case.meta["generator_config"]
    operations = resolve_operations(None, compute, weight_dtype)
    with torch.device("meta"):
        model = DashengAudioGenerator.from_config(config, operations)
    dtypes = storage_dtypes(model, compute, weight_dtype)
    state = {k: v.to(dtypes.get(k, v.dtype)) for k, v in case.weights.items() if k in dtypes}
    state.update({k: v for k, v in case.weights.items() if k not in dtypes})
    model.load_state_dict(state, strict=False, assign=True)
    reset_derived_buffers(model)
    model.eval()
    args = case.meta["non_tensor_args"]
    cond = condition(model, case.inputs["t5_hidden"], case.inputs["t5_mask"])
    predicted = cond.latent_lengths.clone()
    if lengths is not None:
        cond = dataclasses.replace(cond, latent_lengths=lengths)
    latent = sample(
        model,
        cond,
        case.inputs["noise"],
        steps=args["num_steps"],
        guidance=args["guidance_scale"],
        sway=args["sway_sampling_coef"],
    )
    return latent, predicted


def accuracy_table() -> None:
    cases = [load_case(p) for p in sorted(GOLDEN.glob("case_c*_generate_*.safetensors"))]
    print("## Output difference against fp32 (golden generation cases, final latent)")
    print("| case | compute | weights | max abs | max abs / max abs(fp32) | lengths |")
    print("| --- | --- | --- | --- | --- | --- |")
    for case in cases:
        reference, lengths = _generate(case, torch.float32, None)
        scale = float(reference.abs().max())
        for compute_name, compute in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            for option in OPTIONS:
                if compute == torch.float32 and option == "default":
                    continue
                weight_dtype = None if option == "default" else WEIGHT_DTYPES[option]
                latent, predicted = _generate(case, compute, weight_dtype, lengths)
                error = float((latent.float() - reference).abs().max())
                same = "same" if torch.equal(predicted, lengths) else f"{predicted.tolist()}"
                print(
                    f"| {case.name} | {compute_name} | {option} | {error:.4f} | "
                    f"{error / scale:.4f} | {same} |"
                )
    print()


def estimate_table() -> None:
    with torch.device("meta"):
        generator = DashengAudioGenerator.from_config(_manifest_config("manifest_generator.json"))
        t5 = T5Encoder.from_config(_manifest_config("manifest_t5_encoder.json"))
        decoder = DashengAudioTokenizer.from_config(
            _manifest_config("manifest_tokenizer.json"), include_encoder=False
        )
    print("## Full-size memory estimates beyond the weights (GiB, bf16 compute)")
    print("| call | estimate |")
    print("| --- | --- |")
    generator, t5, decoder = (m.to(torch.bfloat16) for m in (generator, t5, decoder))
    for seconds, batch in ((10, 1), (30, 1), (10, 4), (120, 1)):
        frames = seconds * generator.frame_rate
        gib = sampling_bytes(generator, batch, frames, 512, guidance=True) / GIB
        print(f"| sample {seconds} s, batch {batch}, guidance, 512 tokens | {gib:.2f} |")
    for seconds, batch in ((10, 1), (30, 1), (10, 4), (120, 1)):
        gib = decoding_bytes(decoder, batch, seconds * generator.frame_rate) / GIB
        print(f"| decode {seconds} s, batch {batch} | {gib:.2f} |")
    encode = prompt_encoding_bytes(t5, generator, 1, 512) / GIB
    print(f"| encode 1 prompt of 512 tokens | {encode:.2f} |")
    print()

    print("## Estimate / measured peak on the CPU (small models, fp32)")
    case = load_case(GOLDEN / "case_c2_generate_cfg_single.safetensors")
    config = case.meta["generator_config"]
    model = DashengAudioGenerator.from_config(config).eval()
    cond = condition(model, case.inputs["t5_hidden"], case.inputs["t5_mask"])
    for frames in (500, 1500):
        cond = dataclasses.replace(cond, latent_lengths=torch.tensor([frames]))
        noise = torch.randn(1, model.latent_dim, frames)
        measured = peak_allocated_bytes(lambda n=noise, c=cond: sample(model, c, n, steps=2))
        estimate = sampling_bytes(model, 1, frames, cond.context.shape[1], guidance=True)
        print(f"sample {frames} frames: {estimate / measured:.2f}")
    decode = load_case(GOLDEN / "case_d_tokenizer_decode.safetensors")
    tokenizer = build_tokenizer(decode.meta["tokenizer_config"], decode.weights, False)
    latent = torch.randn(1, 300, tokenizer.latent_dim)
    measured = peak_allocated_bytes(lambda: tokenizer.decode(latent))
    print(f"decode 300 frames: {decoding_bytes(tokenizer, 1, 300) / measured:.2f}")


def speed_table() -> None:
    parser = argparse.ArgumentParser()
    add_size_arguments(parser, latent_dim=1280, content_dim=1024)
    config = resized_generator_config(parser.parse_args([]))
    torch.manual_seed(0)
    reference = DashengAudioGenerator.from_config(config).eval()
    hidden = torch.randn(1, 40, config["content_dim"])
    cond = condition(reference, hidden, torch.ones(1, 40, dtype=torch.bool))
    cond = dataclasses.replace(cond, latent_lengths=torch.tensor([250]))
    noise = torch.randn(1, config["latent_dim"], 250)
    print("## Seconds per sampling step, CPU, fp32 compute (width 512, depth 12, 10 s, guidance)")
    print("| weights | s/step |")
    print("| --- | --- |")
    for option in ("default", "bf16", "fp8_e4m3fn"):
        weight_dtype = None if option == "default" else WEIGHT_DTYPES[option]
        operations = resolve_operations(None, torch.float32, weight_dtype)
        with torch.device("meta"):
            model = DashengAudioGenerator.from_config(config, operations)
        dtypes = storage_dtypes(model, torch.float32, weight_dtype)
        state = {k: v.to(dtypes.get(k, v.dtype)) for k, v in reference.state_dict().items()}
        model.load_state_dict(state, assign=True)
        model.eval()
        sample(model, cond, noise, steps=1)  # warm-up
        start = time.perf_counter()
        sample(model, cond, noise, steps=4)
        print(f"| {option} | {(time.perf_counter() - start) / 4:.2f} |")
    print()


if __name__ == "__main__":
    weight_memory_table()
    accuracy_table()
    estimate_table()
    print()
    speed_table()
