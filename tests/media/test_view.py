"""Pictures of audio, checked by their pixels: levels, frequencies, overs, loudness, sizes."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from audiogen_core.media import view
from audiogen_core.media.loudness import measure, short_term_lufs
from audiogen_core.media.mixing import Ducking, Layer, MixSettings, mix

SR = 16000


def sine(hz: float, seconds: float, amplitude: float, rate: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * hz * t)


def region(image: np.ndarray, box: view.Box) -> np.ndarray:
    return image[box.top : box.bottom, box.left : box.right].astype(np.int64)


def waveform_pixels(lane: np.ndarray) -> np.ndarray:
    """Pixels drawn as waveform (envelope or RMS): the only strongly blue colours in a lane."""
    return (lane[..., 2] > 180) & (lane[..., 0] < 160)


def red_pixels(lane: np.ndarray) -> np.ndarray:
    return (lane[..., 0] > 200) & (lane[..., 1] < 80) & (lane[..., 2] < 80)


def decibels(spectrogram: np.ndarray, floor: float = -100.0) -> np.ndarray:
    """Invert the colour scale: the dB value each spectrogram pixel shows."""

    def packed(rgb):
        rgb = rgb.astype(np.int64)
        return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]

    keys = packed(view.COLORMAP)
    order = np.argsort(keys, kind="stable")
    found = order[np.searchsorted(keys[order], packed(spectrogram))]
    assert (keys[found] == packed(spectrogram)).all()  # every pixel is a colour of the scale
    return floor + found / 255.0 * -floor


def test_sine_at_minus_6_dbfs_draws_its_envelope_at_half_height():
    audio = sine(1000, 2.0, 10 ** (-6 / 20))
    image = view.render(audio, SR, panels=["waveform"], text=False)
    box = view.layout(1280, 720, ["waveform"], lanes=1, title=False).boxes["waveform 0"]
    drawn = waveform_pixels(region(image, box))
    half = (box.height - 1) / 2
    # Every column holds many periods: its envelope spans -0.5 to +0.5 of the lane's half.
    for column in range(2, box.width - 2):
        rows = np.flatnonzero(drawn[:, column])
        assert abs(rows[0] - (half - 0.501 * half)) <= 1
        assert abs(rows[-1] - (half + 0.501 * half)) <= 1
    assert not red_pixels(region(image, box)).any()


@pytest.mark.parametrize("rate", [16000, 48000])
def test_sine_energy_lands_in_the_1khz_row_at_its_level(rate):
    image = view.render(sine(1000, 2.0, 0.5, rate), rate, panels=["spectrogram"], text=False)
    box = view.layout(1280, 720, ["spectrogram"], title=False).boxes["spectrogram"]
    levels = decibels(region(image, box)[:, 10:-10])
    row_levels = np.median(levels, axis=1)
    # The brightest row is within a spectrum bin (about 22 Hz) of 1 kHz.
    row = int(row_levels.argmax())
    nyquist = rate / 2
    row_hz = nyquist * (view.SPECTROGRAM_MIN_HZ / nyquist) ** ((row + 0.5) / box.height)
    assert abs(row_hz - 1000.0) <= 25.0
    # -6 dBFS reads -6 dB (the Hann window's scalloping costs up to 1.4 dB off a bin centre).
    assert -7.6 <= row_levels.max() <= -5.5
    for hz in (100.0, 5000.0):
        far_row = int(view.hz_row(box, hz, rate / 2) - box.top)
        assert row_levels[far_row] < -90


def test_silence_draws_a_flat_line_and_no_loudness():
    image = view.render(np.zeros((2, SR)), SR, text=False)
    plan = view.layout(1280, 720, view.PANELS, lanes=2, title=False)
    for lane in ("waveform 0", "waveform 1"):
        box = plan.boxes[lane]
        rows = np.flatnonzero(waveform_pixels(region(image, box)).any(axis=1))
        assert rows.tolist() == [view.amplitude_row(box, 0.0) - box.top]
        assert waveform_pixels(region(image, box)).all(axis=0).sum() == 0
        assert waveform_pixels(region(image, box))[rows[0]].all()
    spectrogram = region(image, plan.boxes["spectrogram"])
    assert (spectrogram == view.COLORMAP[0]).all()
    loudness = region(image, plan.boxes["loudness"])
    assert not ((loudness[..., 0] > 200) & (loudness[..., 1] > 180)).any()  # no curve


def test_clipped_stretches_are_red_at_their_times():
    audio = sine(440, 4.0, 0.5)
    clipped = [(1.0, 1.5), (3.0, 3.2)]
    for start, end in clipped:
        part = slice(round(start * SR), round(end * SR))
        audio[part] = np.clip(3 * audio[part], -1.0, 1.0)
    image = view.render(audio, SR, panels=["waveform"], text=False)
    plan = view.layout(1280, 720, ["waveform"], lanes=1, title=False)
    box = plan.boxes["waveform 0"]
    red_columns = np.flatnonzero(red_pixels(region(image, box)).any(axis=0)) + box.left
    # The true-peak filter reads 8 ms (128 samples) either side; a column here is 3.1 ms.
    allowed = np.zeros(plan.width, bool)
    for start, end in clipped:
        first = math.floor(plan.column_of_time(start, 4.0))
        last = math.ceil(plan.column_of_time(end, 4.0))
        allowed[first - 3 : last + 3] = True
        assert np.isin(np.arange(first + 1, last - 1), red_columns).all()
    assert allowed[red_columns].all()


def test_loudness_curve_matches_the_meter():
    rate = 48000
    rng = np.random.default_rng(0)
    quiet = 0.05 * rng.standard_normal((2, 6 * rate))
    loud = 0.125 * rng.standard_normal((2, 6 * rate))
    audio = np.concatenate([quiet, loud], axis=1)
    # Steady stretches read what the integrated meter reads for them.
    curve = short_term_lufs(audio, rate, np.array([3.0, 9.0, 0.2, 11.9]))
    quiet_lufs = measure(quiet[:, rate : 5 * rate], rate)["integrated_lufs"]
    loud_lufs = measure(loud[:, rate : 5 * rate], rate)["integrated_lufs"]
    assert curve[0] == pytest.approx(quiet_lufs, abs=0.05)
    assert curve[1] == pytest.approx(loud_lufs, abs=0.05)
    assert curve[2] == pytest.approx(quiet_lufs, abs=0.1)  # windows cut at the clip's ends
    assert curve[3] == pytest.approx(loud_lufs, abs=0.1)
    # A window across the step is the meter's reading of that window.
    across = short_term_lufs(audio, rate, np.array([6.0]))[0]
    assert across == pytest.approx(
        measure(audio[:, int(4.5 * rate) : int(7.5 * rate)], rate)["integrated_lufs"], abs=0.05
    )

    image = view.render(audio, rate, panels=["loudness"], target_lufs=-23.0, text=False)
    plan = view.layout(1280, 720, ["loudness"], title=False)
    box = plan.boxes["loudness"]
    pixels = region(image, box)
    curve_pixels = (pixels[..., 0] > 200) & (pixels[..., 1] > 180) & (pixels[..., 2] < 150)
    for seconds, lufs in ((3.0, quiet_lufs), (9.0, loud_lufs)):
        column = int(plan.column_of_time(seconds, 12.0)) - box.left
        top_row = np.flatnonzero(curve_pixels[:, column])[0] + box.top
        expected = box.top + (0.0 - lufs) / 60.0 * (box.height - 1)
        assert abs(top_row - expected) <= 1
    target = (pixels[..., 1] > 180) & (pixels[..., 0] < 120)
    target_row = np.flatnonzero(target.sum(axis=1) > box.width // 3)
    assert abs(target_row[0] + box.top - (box.top + 23.0 / 60.0 * (box.height - 1))) <= 1


def test_stereo_channels_get_their_own_lanes():
    audio = np.stack([np.zeros(SR), sine(500, 1.0, 0.9)])
    image = view.render(torch.from_numpy(audio).float(), SR, panels="waveform", text=False)
    plan = view.layout(1280, 720, ["waveform"], lanes=2, title=False)
    left = waveform_pixels(region(image, plan.boxes["waveform 0"])).any(axis=1).sum()
    right = waveform_pixels(region(image, plan.boxes["waveform 1"])).any(axis=1).sum()
    assert left == 1 and right > 0.85 * plan.boxes["waveform 1"].height


@pytest.mark.parametrize(
    ("width", "height", "panels"),
    [(1280, 720, view.PANELS), (640, 360, ("spectrogram",)), (1920, 400, ("waveform", "loudness"))],
)
def test_sizes_and_panels(width, height, panels):
    image = view.render(sine(300, 0.5, 0.3), SR, width=width, height=height, panels=panels)
    assert image.shape == (height, width, 3) and image.dtype == np.uint8
    plan = view.layout(width, height, panels)
    assert sorted(name.split()[0] for name in plan.boxes) == sorted(panels)


def test_text_is_readable_at_1280_and_drawn():
    assert view.layout(1280, 720).font_px >= 14
    with_text = view.render(sine(300, 1.0, 0.3), SR)
    without = view.render(sine(300, 1.0, 0.3), SR, text=False)
    plan = view.layout()
    margin = (slice(plan.plot.top, plan.plot.bottom), slice(0, plan.plot.left - 4))
    assert (with_text[margin] != without[margin]).any(axis=-1).sum() > 200  # axis labels


def test_batch_keeps_each_items_length():
    batch = torch.zeros(2, 1, 2 * SR)
    batch[0, 0] = torch.from_numpy(sine(440, 2.0, 0.5))
    batch[1, 0, :SR] = torch.from_numpy(sine(440, 1.0, 0.5))
    pictures = view.render_batch(batch, SR, lengths=[2 * SR, SR], text=False, width=800, height=450)
    assert pictures.shape == (2, 450, 800, 3)
    # The second item is drawn over its own second, not padded out to two.
    assert (
        pictures[1] == view.render(batch[1, :, :SR], SR, text=False, width=800, height=450)
    ).all()
    box = view.layout(800, 450, lanes=1, title=False).boxes["waveform 0"]
    heights = waveform_pixels(region(pictures[1], box)).sum(axis=0)
    assert heights.min() > 0.25 * box.height  # sound in every column, none padded


def test_markers_shade_their_range_and_mark_events():
    image = view.render(
        np.zeros(4 * SR), SR, markers=[(1.0, 2.0, "door"), view.Marker(3.0)], text=False
    )
    plan = view.layout(title=False)
    row = plan.boxes["loudness"].top + 5
    inside = image[row, round(plan.column_of_time(1.5, 4.0))]
    outside = image[row, round(plan.column_of_time(2.5, 4.0))]
    assert inside[0] > outside[0] + 20  # tinted with the first marker colour
    assert (image[row, math.floor(plan.column_of_time(3.0, 4.0))] == (190, 120, 255)).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: view.render(np.zeros(0), SR), "no samples"),
        (lambda: view.render(np.array([0.1, np.nan]), SR), "NaN"),
        (lambda: view.render(np.zeros((SR, 2)), SR), "transpose"),
        (lambda: view.render(np.zeros(SR), 0), "sample_rate"),
        (lambda: view.render(np.zeros(SR), SR, width=100), "width must be between"),
        (lambda: view.render(np.zeros(SR), SR, height=130), "too small"),
        (lambda: view.render(np.zeros(SR), SR, panels=["wave"]), "panels must be"),
        (lambda: view.render(np.zeros(SR), SR, markers=[(2.0, 3.0, "late")]), "after the end"),
        (lambda: view.render(np.zeros(SR), SR, markers=[(0.5, 0.2, "")]), "start_s <= end_s"),
        (lambda: view.render(np.zeros(SR), SR, target_lufs=5.0), "target_lufs"),
        (lambda: view.render_batch(np.zeros((1, SR)), SR), "batch must be shaped"),
    ],
)
def test_bad_input_is_refused_clearly(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_core_works_without_pillow_until_text_is_needed(monkeypatch):
    for name in ("PIL", "PIL.Image", "PIL.ImageDraw", "PIL.ImageFont"):
        monkeypatch.setitem(sys.modules, name, None)  # makes "import PIL" fail
    importlib.reload(view)  # the module itself imports without Pillow
    assert view.render(np.zeros(SR), SR, text=False).shape == (720, 1280, 3)
    with pytest.raises(ImportError, match="pip install pillow.*text=False"):
        view.render(np.zeros(SR), SR)
    with pytest.raises(ImportError, match="pip install pillow"):
        view.save_png(np.zeros((10, 10, 3), np.uint8), Path("unused.png"))


def test_save_png_round_trips_and_refuses_to_overwrite(tmp_path):
    image = view.render(sine(300, 0.5, 0.3), SR, width=640, height=360)
    path = view.save_png(image, tmp_path / "clip.png")
    assert (np.asarray(Image.open(path).convert("RGB")) == image).all()
    with pytest.raises(FileExistsError, match="already exists"):
        view.save_png(image, path)
    view.save_png(image[::-1].copy(), path, overwrite=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        view.save_png(image, tmp_path / "missing" / "clip.png")
    with pytest.raises(ValueError, match=".png"):
        view.save_png(image, tmp_path / "clip.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.png"]  # no temporary left


def test_stack_shows_each_layer_and_red_overs_on_the_mix():
    voice = np.zeros((1, 4 * SR))
    voice[0, SR : 3 * SR] = sine(300, 2.0, 0.5)
    music = sine(200, 4.0, 0.6)[None].repeat(2, axis=0)
    music[:, SR : 3 * SR] *= 10 ** (-12 / 20)  # ducked under the voice
    mix = np.clip(voice + music, -1, 1) * 1.6
    mix = np.clip(mix, -1.0, 1.0)
    image = view.render_stack([("voice", voice), ("music", music)], mix, SR, text=False)
    plan = view.layout(panels=("waveform", "loudness"), lanes=3, title=False)
    music_box = plan.boxes["waveform 1"]
    heights = waveform_pixels(region(image, music_box)).sum(axis=0)
    ducked = heights[round(plan.column_of_time(2.0, 4.0)) - music_box.left]
    open_ = heights[round(plan.column_of_time(0.5, 4.0)) - music_box.left]
    assert ducked / open_ == pytest.approx(10 ** (-12 / 20), abs=0.05)
    assert not red_pixels(region(image, plan.boxes["waveform 0"])).any()
    assert red_pixels(region(image, plan.boxes["waveform 2"])).any()
    with pytest.raises(ValueError, match="longer than the mix"):
        view.render_stack([("long", np.zeros(5 * SR))], mix, SR, text=False)


def test_mixer_layers_as_placed_show_the_ducking():
    voice = np.zeros(4 * SR)
    voice[SR : 3 * SR] = sine(300, 2.0, 0.3)
    layers = [
        Layer(voice, SR, name="voice"),
        Layer(sine(200, 3.5, 0.3), SR, offset_s=0.5, pan=0.4, name="music"),
    ]
    settings = MixSettings(SR, channels=2, true_peak_dbtp=0.0)
    ducking = Ducking(0, depth_db=12.0, attack_s=0.01, release_s=0.05, hold_s=0.0)
    result = mix(layers, settings, ducking, keep_layers=True)
    assert torch.equal(result.waveform, mix(layers, settings, ducking).waveform)
    assert result.report["gain_db"] == 0.0  # so the layers add up to the mix
    torch.testing.assert_close(sum(result.layer_waveforms), result.waveform, atol=1e-6, rtol=0)
    assert [tuple(layer.shape) for layer in result.layer_waveforms] == [(2, 4 * SR)] * 2

    names = [layer.name for layer in layers]
    image = view.render_stack(
        list(zip(names, result.layer_waveforms, strict=True)), result.waveform, SR
    )
    plan = view.layout(panels=("waveform", "loudness"), lanes=3)
    box = plan.boxes["waveform 1"]
    heights = waveform_pixels(region(image, box)).sum(axis=0)
    ducked = heights[round(plan.column_of_time(2.0, 4.0)) - box.left]
    open_ = heights[round(plan.column_of_time(3.6, 4.0)) - box.left]
    assert ducked / open_ == pytest.approx(10 ** (-12 / 20), abs=0.05)
    before = heights[round(plan.column_of_time(0.25, 4.0)) - box.left]
    assert before <= 2  # the music starts at its offset
