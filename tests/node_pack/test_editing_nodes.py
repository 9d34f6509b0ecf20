"""Editing through the nodes on the tiny model: Regenerate Range, Extend, the Sampler's latent,
denoise and windows. Kept frames come back exactly, lengths are exact to the sample, and every
bad input is an error that names the node."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from workflow_graph import run_node, ui_of

from audiogen_core.sampling.latent import AudioLatent
from nodes.codec import AudioGenDecode, AudioGenEncode
from nodes.editing import AudioGenExtend, AudioGenRegenerateRange
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
CLIP_S = 4.0


@pytest.fixture(scope="module")
def conditioning(tiny_models):
    return run_node(AudioGenTextEncode, tiny_models["text_encoder"], tiny_models["model"], PROMPT)[
        0
    ]


@pytest.fixture(scope="module")
def clip(tiny_models) -> AudioLatent:
    """A 4 s two-tone stereo clip at 44.1 kHz, encoded by the Encode Audio node."""
    t = torch.arange(round(CLIP_S * 44100)) / 44100
    left = 0.3 * torch.sin(2 * math.pi * 330 * t) * (1 + torch.sin(2 * math.pi * 0.5 * t)) / 2
    right = 0.2 * torch.sin(2 * math.pi * 523 * t)
    audio = {"waveform": torch.stack([left, right])[None], "sample_rate": 44100}
    return run_node(AudioGenEncode, tiny_models["audio_tokenizer"], audio)[0]


def sample(tiny_models, conditioning, **changes) -> AudioLatent:
    return run_node(AudioGenSampler, tiny_models["model"], conditioning, **{**SETTINGS, **changes})


def regenerate(latent, start_s, end_s, fade_s=0.0):
    return run_node(AudioGenRegenerateRange, latent, start_s, end_s, fade_s)


def extend(latent, before_s, after_s):
    return run_node(AudioGenExtend, latent, before_s, after_s)


def decode(tiny_models, latent) -> torch.Tensor:
    return run_node(AudioGenDecode, tiny_models["audio_tokenizer"], latent)[0]["waveform"]


# --------------------------------------------------------------------------- identities


def test_regenerate_range_then_sampler_keeps_every_frame_outside_the_range(
    tiny_models, conditioning, clip
):
    marked = regenerate(clip, 1.0, 3.0, 0.2)
    (mask,) = marked.result[0].noise_mask
    assert mask[:25].eq(0).all() and mask[75:].eq(0).all() and mask[30:70].eq(1).all()
    assert 0 < mask[25] < mask[29] < 1  # the fade stays inside the range
    assert ui_of(marked)["text"] == ("regenerates 1.00-3.00 s (fade 0.20 s) of 4.000 s",)

    (result,) = sample(tiny_models, conditioning, latent=marked.result[0]).result
    assert result.num_samples == clip.num_samples and result.latent.shape == clip.latent.shape
    assert torch.equal(result.latent[..., :25], clip.latent[..., :25])
    assert torch.equal(result.latent[..., 75:], clip.latent[..., 75:])
    assert not torch.allclose(result.latent[..., 30:70], clip.latent[..., 30:70], atol=0.1)

    # After decoding, the audio outside the range is the clip's own, except within the
    # decoder's reach of the range's edges.
    reach = tiny_models["audio_tokenizer"].component.decode_context_frames * 640
    before, after = decode(tiny_models, clip), decode(tiny_models, result)
    assert torch.equal(after[..., : 25 * 640 - reach], before[..., : 25 * 640 - reach])
    assert torch.equal(after[..., 75 * 640 + reach :], before[..., 75 * 640 + reach :])


def test_regenerate_range_chains_for_several_moments(tiny_models, conditioning, clip):
    (first,) = regenerate(clip, 0.4, 1.0).result
    (both,) = regenerate(first, 2.8, 3.2).result
    (mask,) = both.noise_mask
    assert mask.nonzero().flatten().tolist() == [*range(10, 25), *range(70, 80)]
    (result,) = sample(tiny_models, conditioning, latent=both).result
    for kept in (slice(0, 10), slice(25, 70), slice(80, None)):
        assert torch.equal(result.latent[..., kept], clip.latent[..., kept])
    for redone in (slice(10, 25), slice(70, 80)):
        assert not torch.equal(result.latent[..., redone], clip.latent[..., redone])


def test_extending_by_nothing_gives_the_clip_back_without_sampling(
    comfy, tiny_models, conditioning, clip
):
    _, standin = comfy
    (same,) = extend(clip, 0.0, 0.0).result
    assert same.noise_mask.eq(0).all()  # all kept
    (result,) = sample(tiny_models, conditioning, latent=same).result
    assert torch.equal(result.latent, clip.latent) and result.num_samples == clip.num_samples
    assert standin.progress == []  # nothing to regenerate: the sampler never ran


def test_a_latent_without_a_mask_at_denoise_1_is_plain_generation_at_its_length(
    tiny_models, conditioning, clip
):
    (from_clip,) = sample(tiny_models, conditioning, latent=clip).result
    (plain,) = sample(tiny_models, conditioning, duration_s=CLIP_S).result
    assert from_clip.num_samples == plain.num_samples == [round(CLIP_S * 16000)]
    torch.testing.assert_close(from_clip.latent, plain.latent, rtol=0, atol=0)


def test_denoise_makes_a_variation_that_stays_nearer_the_clip(tiny_models, conditioning, clip):
    def distance(seed, denoise):
        (out,) = sample(tiny_models, conditioning, latent=clip, seed=seed, denoise=denoise).result
        assert out.latent.shape == clip.latent.shape
        return float((out.latent - clip.latent).norm() / clip.latent.norm())

    for seed in (1, 2):
        light, half, full = distance(seed, 0.2), distance(seed, 0.6), distance(seed, 1.0)
        assert 0 < light < half < full


@pytest.mark.parametrize(("before_s", "after_s"), [(0.0, 1.0), (0.52, 0.77), (1.2, 0.013)])
def test_extend_lengths_are_exact_to_the_sample(tiny_models, conditioning, clip, before_s, after_s):
    out = extend(clip, before_s, after_s)
    (longer,) = out.result
    before = round(before_s * 25)
    samples = before * 640 + clip.num_samples[0] + round(after_s * 16000)
    assert longer.num_samples == [samples]
    assert longer.latent.shape[-1] == math.ceil(samples / 640)
    frames = clip.latent.shape[-1]
    (mask,) = longer.noise_mask
    assert mask[:before].eq(1).all() and mask[before + frames :].eq(1).all()
    assert mask[before : before + frames].eq(0).all()
    assert ui_of(out)["text"][0].endswith(f"= {samples / 16000:.3f} s")

    (result,) = sample(tiny_models, conditioning, latent=longer).result
    assert torch.equal(result.latent[..., before : before + frames], clip.latent)
    assert decode(tiny_models, result).shape == (1, 1, samples)


def test_long_durations_are_sampled_window_by_window(comfy, tiny_models, conditioning):
    _, standin = comfy
    # 5 s = 125 frames; windows of 50 frames overlapping by 12: 0-50, 38-88, 76-125.
    windowed = sample(tiny_models, conditioning, duration_s=5.0, window_s=2.0, overlap_s=0.5)
    assert standin.progress[-1] == (3 * 2, 3 * 2)  # Cancel and progress span all windows
    standin.progress.clear()
    (one_pass,) = sample(tiny_models, conditioning, duration_s=5.0, window_s=0.0).result
    assert standin.progress == [(1, 2), (2, 2)]
    (default,) = sample(tiny_models, conditioning, duration_s=5.0).result  # one 20 s window
    assert windowed.result[0].num_samples == one_pass.num_samples == [80000]
    assert torch.equal(default.latent, one_pass.latent)
    assert not torch.equal(windowed.result[0].latent, one_pass.latent)


# --------------------------------------------------------------------------- errors


def other_model_size(clip: AudioLatent) -> AudioLatent:
    return dataclasses.replace(clip, latent=torch.zeros(1, 16, clip.latent.shape[-1]))


@pytest.mark.parametrize(
    "changes, complaint",
    [
        ({"denoise": 0.0}, "denoise must be in (0, 1]"),
        ({"denoise": 1.5}, "denoise must be in (0, 1]"),
        ({"denoise": 0.5, "latent": None}, "needs an init latent"),
        ({"window_s": 4.0, "overlap_s": 4.0}, "overlap_s 4 must be shorter than window_s 4"),
        ({"window_s": 2.0, "overlap_s": 3.0}, "overlap_s 3 must be shorter than window_s 2"),
        ({"window_s": -1.0}, "use 0 for one pass"),
        ({"duration_s": 2.0}, "duration_s is 2 s but a latent is connected"),
        ({"latent": other_model_size}, "another model size"),
    ],
)
def test_bad_editing_settings_are_errors_naming_the_sampler(
    tiny_models, conditioning, clip, changes, complaint
):
    changes = {"latent": clip, **changes}
    if callable(changes["latent"]):
        changes["latent"] = changes["latent"](clip)
    with pytest.raises(ValueError, match=r"^AudioGen Sampler: ") as caught:
        sample(tiny_models, conditioning, **changes)
    assert complaint in str(caught.value)


@pytest.mark.parametrize(
    "start_s, end_s, fade_s, complaint",
    [
        (3.0, 5.0, 0.0, "lies outside the clip, which is 4.00 s long"),
        (3.0, 2.0, 0.0, "start_s 3 must be before end_s 2"),
        (2.0, 2.0, 0.0, "start_s 2 must be before end_s 2"),
        (1.0, 1.01, 0.0, "shorter than one latent frame"),
        (1.0, 2.0, 0.6, "fade_s 0.6 must be between 0 and half the range"),
        (-1.0, 2.0, 0.0, "lies outside the clip"),
    ],
)
def test_bad_ranges_are_errors_naming_regenerate_range(clip, start_s, end_s, fade_s, complaint):
    with pytest.raises(ValueError, match=r"^AudioGen Regenerate Range: ") as caught:
        regenerate(clip, start_s, end_s, fade_s)
    assert complaint in str(caught.value)


def test_bad_extensions_are_errors_naming_extend(tiny_models, conditioning, clip):
    for before_s, after_s, complaint in [
        (-1.0, 0.0, "before_s must be a number of seconds >= 0"),
        (0.01, 0.0, "shorter than half a latent frame"),
        (0.0, 598.0, "more than the 600 s the Sampler makes in one run"),
    ]:
        with pytest.raises(ValueError, match=r"^AudioGen Extend: ") as caught:
            extend(clip, before_s, after_s)
        assert complaint in str(caught.value)
    (uneven,) = sample(tiny_models, conditioning, batch_size=2).result
    uneven = dataclasses.replace(uneven, lengths=torch.tensor([uneven.latent.shape[-1], 3]))
    with pytest.raises(ValueError, match=r"^AudioGen Extend: .*fill all its frames"):
        extend(uneven, 0.0, 1.0)


def test_new_sampler_widgets_come_after_the_old_ones_as_optional_inputs():
    info = AudioGenSampler.INPUT_TYPES()
    assert list(info["required"]) == [
        "model",
        "conditioning",
        "seed",
        "steps",
        "guidance",
        "sway",
        "duration_s",
        "batch_size",
    ]
    assert list(info["optional"]) == ["latent", "denoise", "window_s", "overlap_s", "time_mode"]
    from audiogen_core.sampling.settings import SETTINGS

    assert info["optional"]["denoise"][1]["default"] == 1.0
    assert info["optional"]["window_s"][1]["default"] == SETTINGS.window_s
    assert info["optional"]["overlap_s"][1]["default"] == SETTINGS.overlap_s
    assert info["optional"]["time_mode"][1]["default"] == "blend"
