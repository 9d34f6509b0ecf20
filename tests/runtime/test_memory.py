"""The memory estimates against the measured peak of every tensor allocation on the CPU.

Each estimate must be an upper bound of the measured peak (ComfyUI frees that much before the
call; less would risk running out of memory) and at most ``LOOSENESS`` times it (more would
evict other models for nothing). Sizes are chosen so that activations dominate: a few to tens
of MB, far above the allocator's small bookkeeping allocations.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from golden_checks.audio_tokenizer import build_tokenizer
from golden_checks.generator import load_generator as load_golden_generator
from golden_io import first_case
from memory_probe import peak_allocated_bytes, weight_bytes

from audiogen_core.checkpoints import load_generator
from audiogen_core.conditioning.blending import blend_weights, event_weights
from audiogen_core.conditioning.encoded import TimedPromptTensors, condition
from audiogen_core.conditioning.timegrid import TimeGrid
from audiogen_core.conditioning.timeline import TimelineEvent
from audiogen_core.runtime.memory import (
    decoding_bytes,
    prompt_encoding_bytes,
    sampling_bytes,
)
from audiogen_core.sampling.sampler import sample

LOOSENESS = 1.6


def _check(estimate: int, measured: int, what: str) -> None:
    ratio = estimate / measured
    assert 1.0 <= ratio <= LOOSENESS, (
        f"{what}: estimate {estimate / 1e6:.2f} MB, measured {measured / 1e6:.2f} MB "
        f"(ratio {ratio:.2f}, wanted 1 to {LOOSENESS})"
    )


@pytest.fixture(scope="module")
def generator_case():
    return first_case("case_c_")


@pytest.mark.parametrize(
    "dtype, batch, guidance, timed",
    [
        (torch.float32, 2, True, 0),
        (torch.bfloat16, 1, True, 0),
        (torch.float32, 1, False, 0),
        (torch.float32, 1, True, 2),
    ],
)
def test_sampling_estimate_bounds_the_measured_peak(generator_case, dtype, batch, guidance, timed):
    model = load_golden_generator(generator_case).to(dtype)
    t5_hidden = generator_case.inputs["t5_hidden"][:1].expand(batch, -1, -1)
    t5_mask = generator_case.inputs["t5_mask"][:1].expand(batch, -1)
    frames = 1500  # a minute of audio: activations dominate
    cond = condition(model, t5_hidden, t5_mask)
    cond = dataclasses.replace(cond, latent_lengths=torch.full((batch,), frames))
    if timed:
        # Overlapping blended prompts that leave the clip's ends to the base prompt, so every
        # prompt is evaluated at every step.
        grid = TimeGrid(frame_rate=25, sample_rate=16000)
        events = [
            TimelineEvent(i * 20.0 + 5.0, i * 20.0 + 35.0, "<|caption|> x", fade_s=1.0)
            for i in range(timed)
        ]
        weights = blend_weights(event_weights(grid, frames, events))[None]
        prompts = tuple(condition(model, t5_hidden[:1], t5_mask[:1]) for _ in range(timed))
        cond = dataclasses.replace(cond, timed=TimedPromptTensors(prompts, weights))
    noise = torch.randn(batch, model.latent_dim, frames, generator=torch.Generator().manual_seed(0))
    scale = 5.0 if guidance else 1.0
    measured = peak_allocated_bytes(lambda: sample(model, cond, noise, steps=2, guidance=scale))
    estimate = sampling_bytes(model, batch, frames, cond.context.shape[1], guidance, timed)
    _check(estimate, measured, f"sampling {dtype} batch {batch} guidance {guidance} {timed}")


def test_sampling_estimate_grows_with_frames_batch_and_guidance(generator_case):
    model = load_golden_generator(generator_case)
    base = sampling_bytes(model, 1, 1000, 20, guidance=False)
    assert 1.9 < sampling_bytes(model, 1, 2000, 20, guidance=False) / base < 2.0
    assert 1.9 < sampling_bytes(model, 2, 1000, 20, guidance=False) / base < 2.0
    guided = sampling_bytes(model, 1, 1000, 20, guidance=True)
    assert guided > 1.8 * base
    assert sampling_bytes(model.to(torch.bfloat16), 1, 1000, 20, guidance=False) < 0.6 * base


@pytest.mark.parametrize("dtype, batch", [(torch.float32, 2), (torch.bfloat16, 1)])
def test_decoding_estimate_bounds_the_measured_peak(dtype, batch):
    case = first_case("case_d_")
    model = build_tokenizer(case.meta["tokenizer_config"], case.weights, False).to(dtype)
    frames = 300
    seeded = torch.Generator().manual_seed(1)
    latent = torch.randn(batch, model.latent_dim, frames, generator=seeded)
    measured = peak_allocated_bytes(lambda: model.decode(latent))
    _check(decoding_bytes(model, batch, frames), measured, f"decoding {dtype} batch {batch}")


def test_prompt_encoding_estimate_bounds_the_measured_peak(pipe):
    text_encoder, generator = pipe.text_encoder, pipe.generator
    batch, tokens = 2, 400
    vocab = text_encoder.model.config.vocab_size
    ids = torch.randint(0, vocab, (batch, tokens), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(batch, tokens, dtype=torch.bool)
    mask[1, tokens // 3 :] = False

    def encode():
        with torch.inference_mode():
            return condition(generator, text_encoder.model(ids, mask), mask)

    measured = peak_allocated_bytes(encode)
    estimate = prompt_encoding_bytes(text_encoder.model, generator, batch, tokens)
    _check(estimate, measured, "prompt encoding")


def test_weight_bytes_follow_the_storage_dtype(tiny_model_dir):
    folder = tiny_model_dir / "Dasheng-AudioGen"
    full = load_generator(folder)
    fp8 = load_generator(folder, weight_dtype=torch.float8_e4m3fn)
    expected_full = sum(t.numel() * t.element_size() for t in full.state_dict().values())
    assert weight_bytes(full) == expected_full
    assert weight_bytes(fp8) < 0.4 * weight_bytes(full)
    assert weight_bytes(full.conditioner) + weight_bytes(full.backbone) < weight_bytes(full)
