"""Text encode, sampler and decode nodes on the tiny model: durations, seeds, progress, errors."""

from __future__ import annotations

import pytest
import torch
from comfy_standins import InterruptProcessingException
from workflow_graph import run_node, ui_of

from nodes.codec import AudioGenDecode
from nodes.generation import AudioGenSampler, AudioGenTextEncode

PROMPT = "<|caption|> A dog barks in a park <|sfx|> two barks"
SETTINGS = {
    "seed": 7,
    "steps": 2,
    "guidance": 5.0,
    "sway": -1.0,
    "duration_s": 0.0,
    "batch_size": 1,
}


@pytest.fixture
def conditioning(tiny_models):
    return run_node(AudioGenTextEncode, tiny_models["text_encoder"], tiny_models["model"], PROMPT)[
        0
    ]


def sample(tiny_models, conditioning, **changes):
    return run_node(AudioGenSampler, tiny_models["model"], conditioning, **{**SETTINGS, **changes})


def decode(tiny_models, latent) -> dict:
    return run_node(AudioGenDecode, tiny_models["audio_tokenizer"], latent)[0]


def test_text_encode_returns_and_shows_the_predicted_duration(tiny_models):
    out = run_node(AudioGenTextEncode, tiny_models["text_encoder"], tiny_models["model"], PROMPT)
    cond, seconds = out.result
    assert cond.prompts == [PROMPT]
    assert seconds == pytest.approx(cond.predicted_duration_s[0]) and seconds > 0
    (info,) = ui_of(out)["text"]
    assert f"{seconds:.2f} s" in info and "of 512 tokens" in info


def test_text_encode_rejects_an_unknown_tag(tiny_models):
    with pytest.raises(ValueError, match=r"^AudioGen Text Encode: Unknown tag"):
        run_node(
            AudioGenTextEncode,
            tiny_models["text_encoder"],
            tiny_models["model"],
            "<|caption|> a dog <|noise|> bark",
        )


def test_zero_duration_keeps_the_predicted_length(tiny_models, conditioning):
    out = sample(tiny_models, conditioning)
    (latent,) = out.result
    frames = conditioning.predicted_frames[0]
    assert latent.lengths.tolist() == [frames]
    audio = decode(tiny_models, latent)
    assert audio["sample_rate"] == 16000
    assert audio["waveform"].shape == (1, 1, frames * 640)
    assert audio["waveform"].dtype == torch.float32 and audio["waveform"].device.type == "cpu"
    assert ui_of(out)["text"] == (f"1 x {frames * 640 / 16000:.3f} s, seed 7",)


@pytest.mark.parametrize("seconds", [0.5, 1.013, 1.25])
def test_a_set_duration_is_met_to_the_sample(tiny_models, conditioning, seconds):
    (latent,) = sample(tiny_models, conditioning, duration_s=seconds).result
    assert latent.latent.shape[-1] == round(seconds * 25)
    assert decode(tiny_models, latent)["waveform"].shape[-1] == round(seconds * 16000)


def test_batch_variations_use_consecutive_seeds_each_reproducible_alone(tiny_models, conditioning):
    out = sample(tiny_models, conditioning, seed=42, duration_s=0.4, batch_size=3)
    (batch,) = out.result
    assert batch.seeds == [42, 43, 44]
    assert ui_of(out)["text"] == ("3 x 0.400 s, seeds 42..44",)
    (alone,) = sample(tiny_models, conditioning, seed=43, duration_s=0.4).result
    torch.testing.assert_close(batch.latent[1:2], alone.latent, rtol=1e-4, atol=1e-5)
    (again,) = sample(tiny_models, conditioning, seed=42, duration_s=0.4).result
    torch.testing.assert_close(batch.latent[:1], again.latent, rtol=1e-4, atol=1e-5)


def test_every_step_moves_comfyuis_progress_bar(comfy, tiny_models, conditioning):
    _, standin = comfy
    sample(tiny_models, conditioning, steps=3, duration_s=0.2)
    assert standin.progress == [(1, 3), (2, 3), (3, 3)]


def test_comfyui_cancel_stops_sampling_after_the_current_step(comfy, tiny_models, conditioning):
    _, standin = comfy
    standin.interrupt_after_updates = 1
    with pytest.raises(InterruptProcessingException):
        sample(tiny_models, conditioning, steps=20, duration_s=0.2)
    assert standin.progress == [(1, 20)]


@pytest.mark.parametrize(
    "changes, complaint",
    [
        ({"steps": 0}, "steps must be between 1 and 200, got 0"),
        ({"duration_s": -1.0}, "use 0 for the predicted length"),
        ({"duration_s": 100000.0}, "out of range"),
        ({"duration_s": 0.01}, "shorter than one latent frame"),
    ],
)
def test_bad_sampler_settings_are_clear_errors(tiny_models, conditioning, changes, complaint):
    with pytest.raises(ValueError, match=r"^AudioGen Sampler: ") as caught:
        sample(tiny_models, conditioning, **changes)
    assert complaint in str(caught.value)


def test_text_encode_takes_the_composer_prompt_or_any_string(tiny_models):
    from workflow_graph import types_compatible

    prompt_type = AudioGenTextEncode.INPUT_TYPES()["required"]["prompt"][0]
    assert types_compatible("AUDIOGEN_PROMPT", prompt_type)
    assert types_compatible("STRING", prompt_type)
    assert not types_compatible("AUDIO", prompt_type)
    plain = run_node(AudioGenTextEncode, tiny_models["text_encoder"], tiny_models["model"], PROMPT)
    assert plain.result[1] > 0


def test_audio_full_of_nan_never_reaches_the_save_node(tiny_models, conditioning):
    import dataclasses

    (latent,) = sample(tiny_models, conditioning, duration_s=0.4).result
    broken = dataclasses.replace(latent, latent=torch.full_like(latent.latent, float("nan")))
    with pytest.raises(ValueError, match=r"^AudioGen Decode: sampling produced NaN"):
        decode(tiny_models, broken)


def test_sampler_widgets_take_their_bounds_from_the_core_limits():
    from audiogen_core.sampling.settings import SETTINGS

    inputs = AudioGenSampler.INPUT_TYPES()["required"]
    assert inputs["steps"][1]["max"] == SETTINGS.steps_range[1]
    assert inputs["batch_size"][1]["max"] == SETTINGS.variations_range[1]
    assert (inputs["guidance"][1]["min"], inputs["guidance"][1]["max"]) == SETTINGS.guidance_range
    assert (inputs["sway"][1]["min"], inputs["sway"][1]["max"]) == SETTINGS.sway_range
    assert inputs["seed"][1]["max"] == SETTINGS.seed_modulus - 1
    assert inputs["duration_s"][1]["max"] == SETTINGS.max_duration_s
