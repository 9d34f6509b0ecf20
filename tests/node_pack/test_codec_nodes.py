"""Decode and encode nodes: AUDIO of any rate and channel count <-> AudioGen latents."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from workflow_graph import run_node, ui_of

from audiogen_core.checkpoints import load_audio_tokenizer
from audiogen_core.sampling.latent import AudioLatent
from nodes.codec import AudioGenDecode, AudioGenEncode
from nodes.display import TAKES
from nodes.managed import ManagedModel


def tone(seconds: float, sample_rate: int, channels: int, batch: int = 1) -> dict:
    t = torch.arange(round(seconds * sample_rate)) / sample_rate
    wave = 0.3 * torch.sin(2 * math.pi * 440 * t)
    return {"waveform": wave.repeat(batch, channels, 1), "sample_rate": sample_rate}


@pytest.mark.parametrize("sample_rate, channels", [(44100, 2), (16000, 1), (48000, 1)])
def test_any_audio_encodes_as_16k_mono_and_decodes_back(tiny_models, sample_rate, channels):
    tokenizer = tiny_models["audio_tokenizer"]
    (latent,) = run_node(AudioGenEncode, tokenizer, tone(1.0, sample_rate, channels, batch=2))
    assert isinstance(latent, AudioLatent)
    assert latent.batch_size == 2 and latent.sample_rate == 16000 and latent.frame_rate == 25
    assert abs(latent.latent.shape[-1] - 25) <= 1
    (audio,) = run_node(AudioGenDecode, tokenizer, latent)
    assert audio["sample_rate"] == 16000
    assert audio["waveform"].shape == (2, 1, latent.latent.shape[-1] * 640)


def test_decode_plays_each_take_in_the_node_with_its_seed(tiny_models, comfy):
    folder_paths, _ = comfy
    tokenizer = tiny_models["audio_tokenizer"]
    (latent,) = run_node(AudioGenEncode, tokenizer, tone(1.0, 16000, 1, batch=3))
    latent.seeds = [7, 8, 9]  # as the Sampler sets them for three variations
    out = run_node(AudioGenDecode, tokenizer, latent)
    (audio,) = out.result
    assert audio["seeds"] == [7, 8, 9]  # passed on for the Mixer's take labels
    takes = ui_of(out)[TAKES]
    seconds = latent.durations_s[0]
    assert [t["label"] for t in takes] == [
        f"take {i + 1} of 3: seed {7 + i}, {seconds:.2f} s" for i in range(3)
    ]
    for item, take in enumerate(takes):
        path = Path(folder_paths.get_temp_directory()) / take["subfolder"] / take["filename"]
        data, rate = sf.read(path)
        assert take["type"] == "temp" and rate == 16000
        assert np.allclose(data, audio["waveform"][item, 0].numpy(), atol=1e-4)
    # Encoded audio has no seeds: its takes are named without one.
    (unseeded,) = run_node(AudioGenEncode, tokenizer, tone(1.0, 16000, 1))
    out = run_node(AudioGenDecode, tokenizer, unseeded)
    assert "seeds" not in out.result[0]
    assert [t["label"] for t in ui_of(out)[TAKES]] == [f"take 1 of 1: {seconds:.2f} s"]


def test_encoding_needs_the_tokenizer_encoder(tiny_model_dir):
    decoder_only = ManagedModel(
        component=load_audio_tokenizer(tiny_model_dir / "dashengtokenizer", include_encoder=False),
        folder=tiny_model_dir / "dashengtokenizer",
        dtype=torch.float32,
    )
    with pytest.raises(ValueError, match=r"^AudioGen Encode Audio: .*set load_encoder to true"):
        run_node(AudioGenEncode, decoder_only, tone(1.0, 16000, 1))


@pytest.mark.parametrize(
    "audio, complaint",
    [
        (None, "audio input is empty"),
        ({"waveform": torch.zeros(1, 1, 10), "sample_rate": 16000}, "samples"),
    ],
)
def test_unusable_audio_is_a_clear_error(tiny_models, audio, complaint):
    with pytest.raises(ValueError, match=r"^AudioGen Encode Audio: ") as caught:
        run_node(AudioGenEncode, tiny_models["audio_tokenizer"], audio)
    assert complaint in str(caught.value)
