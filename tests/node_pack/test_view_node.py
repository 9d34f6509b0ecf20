"""Audio View node: AUDIO of any rate and layout -> IMAGE batch, previewed in the node."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from workflow_graph import run_node, ui_of

from audiogen_core.media import view
from nodes.view import PANEL_CHOICES, AudioGenAudioView

WIDGETS = {
    "width": 640,
    "height": 360,
    "panels": PANEL_CHOICES[0],
    "target_lufs": -16.0,
}


def sine(seconds: float, rate: int, channels: int = 1, batch: int = 1, amp: float = 0.5) -> dict:
    t = torch.arange(round(seconds * rate)) / rate
    wave = amp * torch.sin(2 * math.pi * 1000.0 * t)
    return {"waveform": wave.repeat(batch, channels, 1), "sample_rate": rate}


def draw(audio: dict, **changes):
    return run_node(AudioGenAudioView, audio, **{**WIDGETS, **changes})


@pytest.mark.parametrize(
    "rate, channels, batch", [(16000, 1, 1), (44100, 2, 1), (48000, 2, 3), (8000, 1, 2)]
)
def test_any_audio_becomes_an_image_batch_equal_to_the_core_picture(
    standalone, rate, channels, batch
):
    audio = sine(1.5, rate, channels, batch)
    (image,) = draw(audio).result
    assert image.shape == (batch, 360, 640, 3) and image.dtype == torch.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    titles = [f"clip {i + 1} of {batch}" for i in range(batch)] if batch > 1 else None
    expected = view.render_batch(
        audio["waveform"], rate, width=640, height=360, target_lufs=-16.0, titles=titles
    )
    assert np.array_equal(np.round(image.numpy() * 255).astype(np.uint8), expected)


def test_the_pictures_are_written_to_the_temp_folder_for_the_node(comfy):
    folder_paths, _ = comfy
    out = draw(sine(1.0, 16000, batch=2))
    (image,) = out.result
    shown = ui_of(out)["images"]
    assert [entry["type"] for entry in shown] == ["temp", "temp"]
    temp = Path(folder_paths.get_temp_directory())
    for index, entry in enumerate(shown):
        png = np.asarray(Image.open(temp / entry["subfolder"] / entry["filename"]))
        assert png.shape == (360, 640, 3)
        assert np.array_equal(png, np.round(image[index].numpy() * 255).astype(np.uint8))


def test_panels_target_and_markers_reach_the_picture(standalone):
    audio = sine(4.0, 16000)
    (image,) = draw(
        audio,
        panels="waveform, loudness",
        target_lufs=0.0,
        markers="1:2:door\n\n 3.5::bang \n",
    ).result
    expected = view.render(
        audio["waveform"][0],
        16000,
        width=640,
        height=360,
        panels=("waveform", "loudness"),
        target_lufs=None,
        markers=[view.Marker(1.0, 2.0, "door"), view.Marker(3.5, None, "bang")],
    )
    assert np.array_equal(np.round(image[0].numpy() * 255).astype(np.uint8), expected)
    plain = np.round(draw(audio, panels="waveform, loudness").result[0][0].numpy() * 255)
    assert not np.array_equal(plain.astype(np.uint8), expected)


@pytest.mark.parametrize(
    "audio, changes, complaint",
    [
        (None, {}, "audio input is empty"),
        (sine(1.0, 16000), {"markers": "one:two"}, "START:END:LABEL"),
        (sine(1.0, 16000), {"markers": "5:6:late"}, "starts after the end"),
        (sine(1.0, 16000, channels=3), {}, "channel"),
        (sine(1.0, 16000), {"height": 120}, "too small"),
    ],
)
def test_bad_input_is_a_clear_error_naming_the_node(standalone, audio, changes, complaint):
    with pytest.raises(ValueError, match=r"^AudioGen Audio View: ") as caught:
        draw(audio, **changes)
    assert complaint in str(caught.value)
