"""AudioGenPipeline stages on the tiny snapshots: durations, seeds, batches, errors."""

from __future__ import annotations

import copy
import dataclasses
import re

import numpy as np
import pytest
import torch

from audiogen_core.pipeline import AudioGenPipeline, NonFiniteAudioError
from audiogen_core.sampling.latent import frames_for_duration

PROMPT = "<|caption|> A dog barks in a park <|sfx|> bark"


@pytest.mark.parametrize("duration", [1.0, 0.52, 1.013, 0.5])
def test_duration_override_sets_frames_and_samples_exactly(pipe, duration):
    cond = pipe.encode_prompt(PROMPT)
    latent = pipe.sample(cond, seed=1, steps=2, duration_s=duration)
    assert latent.latent.shape[-1] == round(duration * 25)
    assert latent.lengths.tolist() == [round(duration * 25)]
    audio = pipe.decode(latent)
    assert audio.shape == (1, 1, round(duration * 16000))
    assert audio.dtype == torch.float32


def test_predicted_duration_is_kept_when_no_override(pipe):
    cond = pipe.encode_prompt([PROMPT, "<|caption|> rain on a city street"])
    frames = cond.predicted_frames
    assert all(n > 0 for n in frames)
    assert cond.predicted_duration_s == [n / 25 for n in frames]
    latent = pipe.sample(cond, seed=0, steps=2)
    assert latent.lengths.tolist() == frames
    assert latent.num_samples == [n * 640 for n in frames]
    audio = pipe.decode(latent)
    assert audio.shape[-1] == max(frames) * 640
    shorter = frames.index(min(frames))
    if min(frames) < max(frames):
        assert torch.count_nonzero(audio[shorter, 0, min(frames) * 640 :]) == 0


def test_same_seed_same_audio_and_variations_are_reproducible_alone(pipe):
    cond = pipe.encode_prompt(PROMPT)
    first = pipe.generate(PROMPT, seed=7, steps=2, duration_s=0.8)
    second = pipe.generate(PROMPT, seed=7, steps=2, duration_s=0.8)
    assert torch.equal(first.waveform, second.waveform)
    other = pipe.generate(PROMPT, seed=8, steps=2, duration_s=0.8)
    assert not torch.allclose(first.waveform, other.waveform)

    batch = pipe.sample(cond, seed=7, steps=2, duration_s=0.8, variations=3)
    assert batch.seeds == [7, 8, 9]
    alone = pipe.sample(cond, seed=8, steps=2, duration_s=0.8)
    torch.testing.assert_close(batch.latent[1:2], alone.latent, rtol=1e-4, atol=1e-5)


def test_random_seed_is_reported(pipe):
    cond = pipe.encode_prompt(PROMPT)
    latent = pipe.sample(cond, seed=-1, steps=1, duration_s=0.4)
    again = pipe.sample(cond, seed=latent.seeds[0], steps=1, duration_s=0.4)
    assert torch.equal(latent.latent, again.latent)


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_half_precisions_generate_finite_audio_close_to_fp32(tiny_model_dir, pipe, dtype):
    half = AudioGenPipeline.from_model_dir(tiny_model_dir, device="cpu", dtype=dtype)
    ours = half.generate(PROMPT, seed=3, steps=2, duration_s=0.6).waveform
    ref = pipe.generate(PROMPT, seed=3, steps=2, duration_s=0.6).waveform
    assert torch.isfinite(ours).all()
    assert (ours - ref).abs().max() <= 0.25 * ref.abs().max()


def test_callback_sees_every_step_and_can_cancel(pipe):
    cond = pipe.encode_prompt(PROMPT)
    seen = []
    pipe.sample(cond, steps=4, duration_s=0.4, callback=lambda s, t: seen.append((s, t)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]

    class Cancelled(Exception):
        pass

    def cancel(step, total):
        if step == 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        pipe.sample(cond, steps=4, duration_s=0.4, callback=cancel)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 0}, "steps"),
        ({"duration_s": -1.0}, "out of range"),
        ({"duration_s": 1e6}, "out of range"),
        ({"duration_s": float("nan")}, "duration"),
        ({"guidance": float("inf")}, "guidance"),
        ({"variations": 0}, "variations"),
    ],
)
def test_bad_sampling_arguments(pipe, kwargs, match):
    cond = pipe.encode_prompt(PROMPT)
    with pytest.raises(ValueError, match=match):
        pipe.sample(cond, **kwargs)


@pytest.mark.parametrize("prompt", ["", "   ", "A dog barks", "<|caption|> x <|drums|> y"])
def test_bad_prompts(pipe, prompt):
    with pytest.raises(ValueError):
        pipe.encode_prompt(prompt)


def test_stage_without_its_component_says_what_is_missing(pipe):
    partial = AudioGenPipeline(generator=pipe.generator)
    latent = partial.sample(pipe.encode_prompt(PROMPT), steps=1, duration_s=0.4)
    with pytest.raises(ValueError, match="audio tokenizer"):
        partial.decode(latent)


def test_encode_audio_any_rate_and_channels(pipe):
    seconds = 1.0
    stereo_44k = torch.randn(2, 1, 2, int(44100 * seconds)) * 0.1
    latent = pipe.encode_audio(stereo_44k[0], 44100)
    expected_frames = (1 + 16000 // 160) // 4
    assert latent.latent.shape == (1, pipe.generator.latent_dim, expected_frames)
    audio = pipe.decode(latent)
    assert audio.shape == (1, 1, expected_frames * 640)


def test_frames_for_duration_rounds_like_the_contract():
    assert frames_for_duration(8.5, 25) == 212  # round-half-even of 212.5
    assert frames_for_duration(10.0, 25) == 250
    with pytest.raises(ValueError):
        frames_for_duration(0.01, 25)


def test_long_audio_keeps_exact_length(pipe):
    seconds = 90.01
    result = pipe.generate(PROMPT, seed=0, steps=1, duration_s=seconds)
    assert result.waveform.shape == (1, 1, round(seconds * 16000))
    assert torch.isfinite(result.waveform).all()


# --- argument checks of the core API ---------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"steps": "3"}, TypeError, "steps must be a whole number, got '3'"),
        ({"steps": None}, TypeError, "steps must be a whole number"),
        ({"steps": 2.0}, TypeError, "steps must be a whole number"),
        ({"steps": 201}, ValueError, "steps must be between 1 and 200"),
        ({"guidance": "5"}, TypeError, "guidance must be a number"),
        ({"guidance": 21.0}, ValueError, "guidance must be between 0 and 20"),
        ({"sway": float("nan")}, ValueError, "sway must be between -1 and 1"),
        ({"variations": 17}, ValueError, "variations must be between 1 and 16"),
        ({"variations": True}, TypeError, "variations must be a whole number"),
        ({"seed": 2**64}, ValueError, "seed must be between 0 and 2\\*\\*64 - 1"),
        ({"seed": -2}, ValueError, "seed must be between 0 and 2\\*\\*64 - 1"),
        ({"seed": "7"}, TypeError, "seed must be a whole number"),
        ({"duration_s": "1"}, TypeError, "duration_s must be a number of seconds"),
    ],
)
def test_wrong_types_and_ranges_are_named(pipe, kwargs, error, match):
    cond = pipe.encode_prompt(PROMPT)
    with pytest.raises(error, match=match):
        pipe.sample(cond, **{"steps": 1, "duration_s": 0.4, **kwargs})


def test_numpy_numbers_are_accepted(pipe):
    cond = pipe.encode_prompt(PROMPT)
    latent = pipe.sample(
        cond,
        seed=np.uint64(2**64 - 1),
        steps=np.int64(1),
        guidance=np.float32(3.0),
        sway=np.float64(-0.5),
        duration_s=np.float32(0.4),
        variations=np.int32(2),
    )
    assert latent.seeds == [2**64 - 1, 0]  # seed + 1 wraps around
    assert latent.lengths.tolist() == [10, 10]


@pytest.mark.parametrize("prompts", [None, 3, [PROMPT, None]])
def test_prompts_of_the_wrong_type_are_a_type_error(pipe, prompts):
    with pytest.raises(TypeError):
        pipe.encode_prompt(prompts)


def test_zero_length_check_names_the_right_prompt_with_variations(pipe):
    other = "<|caption|> rain on a tin roof"
    cond = pipe.encode_prompt([PROMPT, other])
    # The model predicts nothing for the second prompt only.
    tensors = dataclasses.replace(cond.tensors, latent_lengths=torch.tensor([5, 0]))
    cond = dataclasses.replace(cond, tensors=tensors)
    with pytest.raises(ValueError, match=re.escape(f"zero frames for {other!r}")):
        pipe.sample(cond, steps=1, variations=2)


def test_non_finite_audio_names_the_stage_that_made_it(tiny_model_dir, pipe):
    cond = pipe.encode_prompt(PROMPT)
    latent = pipe.sample(cond, steps=1, duration_s=0.4)
    broken = dataclasses.replace(latent, latent=latent.latent.clone())
    broken.latent[0, 0, 3] = float("nan")
    with pytest.raises(NonFiniteAudioError, match="^sampling produced NaN"):
        pipe.decode(broken)

    tokenizer = copy.deepcopy(pipe.audio_tokenizer)
    with torch.no_grad():
        tokenizer.decoder.head.out.bias.fill_(float("inf"))
    with pytest.raises(NonFiniteAudioError, match="^decoding produced NaN or infinite"):
        AudioGenPipeline(audio_tokenizer=tokenizer).decode(latent)


@pytest.mark.parametrize(
    "waveform, rate, error, match",
    [
        (None, 16000, TypeError, "waveform must be a torch tensor or numpy array"),
        ([0.0] * 16000, 16000, TypeError, "waveform must be a torch tensor"),
        (torch.zeros(16000), "16000", ValueError, "sample_rate must be a number of Hz"),
        (torch.zeros(16000), 0, ValueError, "sample_rate must be between"),
    ],
)
def test_encode_audio_argument_types(pipe, waveform, rate, error, match):
    with pytest.raises(error, match=match):
        pipe.encode_audio(waveform, rate)
