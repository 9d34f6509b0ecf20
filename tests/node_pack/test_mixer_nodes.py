"""Mix layer and mixer nodes: layouts, formats, batches, the in-graph preview, errors."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image
from workflow_graph import run_node, ui_of

from audiogen_core.media import view
from nodes.display import TAKES
from nodes.mixer import AudioGenMixer, AudioGenMixLayer

MASTER = {
    "sample_rate": "48000",
    "channels": "stereo",
    "duration_s": 0.0,
    "target_lufs": -16.0,
    "true_peak_dbtp": -1.0,
    "fade_in_s": 0.0,
    "fade_out_s": 0.0,
    "duck_with": "off",
    "duck_depth_db": 12.0,
    "duck_attack_s": 0.05,
    "duck_release_s": 0.5,
    "limiter_db": 6.0,
}
LAYER = {
    "gain_db": 0.0,
    "pan": 0.0,
    "offset_s": 0.0,
    "trim_start_s": 0.0,
    "trim_end_s": 0.0,
    "fade_in_s": 0.0,
    "fade_out_s": 0.0,
    "mute": False,
    "solo": False,
}


def tone(
    seconds: float, sample_rate: int = 16000, channels: int = 1, batch: int = 1, freq: float = 440.0
) -> dict:
    t = torch.arange(round(seconds * sample_rate)) / sample_rate
    wave = 0.2 * torch.sin(2 * math.pi * freq * t)
    return {"waveform": wave.repeat(batch, channels, 1), "sample_rate": sample_rate}


def layer(audio: dict, **changes):
    return run_node(AudioGenMixLayer, audio, **{**LAYER, **changes})[0]


def mix(**inputs) -> dict:
    master = {k: inputs.pop(k) for k in list(inputs) if k in MASTER}
    return run_node(AudioGenMixer, **{**MASTER, **master}, **inputs)


def test_audio_and_layers_mix_to_the_chosen_format_with_a_preview_and_report(comfy):
    folder_paths, _ = comfy
    out = mix(layer_1=tone(1.0), layer_3=layer(tone(0.5, 44100, 2), gain_db=-6.0, offset_s=1.0))
    audio, report, picture = out.result
    assert audio["sample_rate"] == 48000
    assert audio["waveform"].shape == (1, 2, 72000)  # the offset layer ends at 1.5 s
    assert audio["waveform"].dtype == torch.float32
    assert re.fullmatch(
        r"-?\d+\.\d LUFS, true peak -?\d+\.\d dBTP, 1\.50 s, 48 kHz stereo.*", report
    )
    assert ui_of(out)["text"] == (report,)

    (entry,) = ui_of(out)[TAKES]  # one take, played in the node
    assert entry["type"] == "temp" and entry["subfolder"] == ""
    assert entry["label"] == "take 1 of 1: 1.50 s"
    assert re.fullmatch(r"ComfyUI_temp_[a-z]{5}_00001_\.flac", entry["filename"])
    data, rate = sf.read(Path(folder_paths.get_temp_directory()) / entry["filename"])
    assert rate == 48000 and data.shape == (72000, 2)

    # The picture: an IMAGE (float 0..1) of both layers above the mix, also shown in the node.
    assert picture.shape == (1, 720, 1280, 3) and picture.dtype == torch.float32
    assert picture.min() >= 0.0 and picture.max() <= 1.0
    (shown,) = ui_of(out)["images"]
    assert shown["type"] == "temp" and shown["filename"].endswith(".png")
    png = np.asarray(Image.open(Path(folder_paths.get_temp_directory()) / shown["filename"]))
    assert np.array_equal(png, np.round(picture[0].numpy() * 255).astype(np.uint8))


def test_fixed_length_mono_16k_without_normalisation(standalone):
    out = mix(
        layer_1=tone(1.0, 44100),
        sample_rate="16000",
        channels="mono",
        duration_s=2.5,
        target_lufs=0.0,
    )
    audio, _, _ = out.result
    assert audio["waveform"].shape == (1, 1, 40000)
    peak = audio["waveform"][0, 0, :16000].abs().max().item()
    assert peak == pytest.approx(0.2, abs=0.01)  # untouched level: 0 = no normalisation
    assert torch.count_nonzero(audio["waveform"][0, 0, 16500:]) == 0
    assert Path(ui_of(out)[TAKES][0]["filename"]).suffix == ".flac"


def test_a_batch_is_mixed_item_by_item_and_single_clips_are_shared(comfy):
    folder_paths, _ = comfy
    voices = tone(1.0, batch=3)
    voices["waveform"] = voices["waveform"] * torch.tensor([1.0, 0.5, 0.25])[:, None, None]
    voices["seeds"] = [42, 43, 44]  # as AudioGen Decode gives a batch of variations
    out = mix(layer_1=layer(voices), layer_2=tone(1.0, freq=220.0), target_lufs=0.0)
    audio, report, picture = out.result
    # Every take can be played in the node, named with the seed it was made from.
    takes = ui_of(out)[TAKES]
    assert [t["label"] for t in takes] == [
        f"take {i + 1} of 3: seed {42 + i}, 1.00 s" for i in range(3)
    ]
    temp = Path(folder_paths.get_temp_directory())
    played = [sf.read(temp / t["subfolder"] / t["filename"])[0] for t in takes]
    for item, data in enumerate(played):
        assert np.allclose(data.T, audio["waveform"][item].numpy(), atol=1e-4)
    shown = ui_of(out)["text"][0].splitlines()
    assert len(shown) == 3 and shown[1].startswith("take 2: ")
    # Stems made from different seeds: no one seed names the mix.
    other = {**tone(1.0, freq=220.0), "seeds": [7]}
    out = mix(layer_1={**tone(1.0), "seeds": [3]}, layer_2=other, target_lufs=0.0)
    assert [t["label"] for t in ui_of(out)[TAKES]] == ["take 1 of 1: 1.00 s"]
    assert audio["waveform"].shape == (3, 2, 48000)
    assert picture.shape == (3, 720, 1280, 3)
    assert not torch.equal(picture[0], picture[1])  # each item's own layers and mix
    assert not torch.equal(audio["waveform"][0], audio["waveform"][1])
    assert report.endswith("(item 1 of 3)")


def _lane_ink(picture: torch.Tensor, lane: int, lanes: int) -> int:
    """How many pixels of a waveform lane of the mixer's picture the envelope covers."""
    height, width = picture.shape[1:3]
    box = view.layout(width, height, ("waveform", "loudness"), lanes=lanes).boxes[
        f"waveform {lane}"
    ]
    area = (picture[0, box.top : box.bottom, box.left : box.right].numpy() * 255).round()
    wave = np.array([70, 150, 220]), np.array([140, 200, 245])  # envelope and RMS colours
    return int(sum((np.abs(area - colour).max(axis=2) <= 1).sum() for colour in wave))


def test_ducking_lowers_the_other_layers_under_the_key_and_the_picture_shows_it(standalone):
    speech, music = tone(1.0, freq=300.0), tone(1.0, freq=1000.0)
    plain, _, plain_picture = mix(
        layer_1=speech, layer_2=music, target_lufs=0.0, channels="mono"
    ).result
    ducked, _, ducked_picture = mix(
        layer_1=speech,
        layer_2=layer(music),
        target_lufs=0.0,
        channels="mono",
        duck_with="layer_1",
        duck_depth_db=20.0,
    ).result
    assert ducked["waveform"].pow(2).mean() < plain["waveform"].pow(2).mean()
    # Lanes: layer_1, layer_2, mix. The key layer is drawn the same; the ducked music's
    # envelope is about a tenth as tall (-20 dB) once the ducking has come down.
    assert _lane_ink(ducked_picture, 0, 3) == _lane_ink(plain_picture, 0, 3)
    assert _lane_ink(ducked_picture, 1, 3) < 0.3 * _lane_ink(plain_picture, 1, 3)


@pytest.mark.parametrize(
    "inputs, complaint",
    [
        ({"layer_1": None}, "connect at least one layer"),
        ({"layer_1": tone(1.0), "duck_with": "layer_4"}, "nothing is connected there"),
        ({"layer_1": tone(1.0, batch=2), "layer_2": tone(1.0, batch=3)}, "do not match"),
        (
            {"layer_1": {"waveform": torch.full((1, 1, 100), float("nan")), "sample_rate": 16000}},
            "NaN",
        ),
    ],
)
def test_mixer_errors_name_the_node_and_the_fix(standalone, inputs, complaint):
    with pytest.raises(ValueError, match=r"^AudioGen Mixer: ") as caught:
        mix(**inputs)
    assert complaint in str(caught.value)


def test_mix_layer_rejects_a_missing_soundtrack():
    with pytest.raises(ValueError, match=r"^AudioGen Mix Layer: .*audio input is empty"):
        layer(None)


def test_limiter_setting_lets_peaky_audio_reach_the_target_under_the_ceiling(standalone):
    from audiogen_core.media.mixing import measure

    quiet = tone(3.0, freq=200.0)
    peaky = quiet["waveform"] * 0.3
    peaky[..., ::4000] = 0.9  # sparse clicks: high peaks, little loudness
    clip = {"waveform": peaky, "sample_rate": 16000}
    settings = {"layer_1": clip, "target_lufs": -16.0, "sample_rate": "16000", "channels": "mono"}
    unlimited, report, _ = mix(**settings, limiter_db=0.0).result
    limited, _, _ = mix(**settings, limiter_db=24.0).result
    before = measure(unlimited["waveform"][0].numpy(), 16000)
    after = measure(limited["waveform"][0].numpy(), 16000)
    assert before["integrated_lufs"] < -20.0 and "not reached" in report
    assert abs(after["integrated_lufs"] + 16.0) < 0.5
    assert after["true_peak_dbtp"] <= -1.0
