"""Pictures of audio: waveform, spectrogram and short-term loudness on one time axis.

``render`` turns a waveform (any rate, mono or stereo) into an RGB picture, a numpy uint8 array
shaped [height, width, 3]; ``render_batch`` does the same for a ComfyUI-style batch and
``render_stack`` draws the mixer's layers above their mix. Everything is drawn with numpy;
Pillow is needed only for the text (axis labels, title) and for ``save_png``, and is imported
only then, so the core runs without it (``text=False`` draws the picture without labels).

Panels, top to bottom, all sharing the time axis at the bottom (seconds):
- ``waveform``: one lane per channel, the min/max envelope of the samples under each pixel
  column with the RMS of the column inside it; grid lines at 0 and -6 dBFS. Columns where the
  true peak (BS.1770-4, loudness.py's meter) goes over ``ceiling_dbtp`` are drawn red, with a red
  tick at the top of the lane.
- ``spectrogram``: power spectrum (Hann window of about 46 ms) on a log frequency axis from
  20 Hz to the Nyquist frequency, in dB relative to a full-scale sine (a -6 dBFS sine reads
  -6 dB), coloured from ``db_floor`` to 0 dB with a perceptual colour scale (``COLORMAP``).
  Each pixel shows the loudest bin and frame it covers, so short or narrow sounds stay visible.
- ``loudness``: short-term loudness (3 s window, centred on each column; see
  ``loudness.short_term_lufs``) from -60 to 0 LUFS, with the target as a dashed line.
Markers (timed events, regenerated ranges) are shaded across every panel and labelled.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.fft
import torch

from .files import write_atomically
from .loudness import (
    CEILING_RANGE_DBTP,
    LOUDNESS_RANGE_LUFS,
    as_array,
    check_level,
    check_sample_rate,
    short_term_lufs,
    true_peak_envelope,
)

__all__ = [
    "COLORMAP",
    "PANELS",
    "Box",
    "Layout",
    "Marker",
    "amplitude_row",
    "hz_row",
    "layout",
    "lufs_row",
    "parse_marker",
    "render",
    "render_batch",
    "render_stack",
    "require_pillow",
    "save_png",
]

PANELS = ("waveform", "spectrogram", "loudness")
WIDTH_RANGE = (320, 8192)
HEIGHT_RANGE = (120, 8192)
MIN_LANE_PX = 24  # a lane lower than this shows nothing useful
# Share of the plot height each panel gets when all are drawn.
_PANEL_WEIGHTS = {"waveform": 0.38, "spectrogram": 0.40, "loudness": 0.22}
SPECTROGRAM_MIN_HZ = 20.0
_SPECTROGRAM_WINDOW_S = 0.046  # ~2048 samples at 44.1/48 kHz, 1024 at 16 kHz
LOUDNESS_AXIS_LUFS = (-60.0, 0.0)

_BACKGROUND = (24, 24, 27)
_PANEL = (10, 10, 12)
_GRID = (52, 52, 60)
_TEXT = (205, 205, 210)
_DIM_TEXT = (140, 140, 150)
_WAVE = (70, 150, 220)
_WAVE_RMS = (140, 200, 245)
_OVER = (255, 40, 40)
_LOUDNESS_FILL = (44, 42, 24)
_LOUDNESS_LINE = (250, 220, 90)
_TARGET = (90, 210, 120)
_MARKER_COLOURS = ((255, 200, 60), (190, 120, 255), (80, 220, 200), (255, 140, 90))
_MARKER_ALPHA = 0.22


def _perceptual_colormap(size: int = 256) -> np.ndarray:
    """Dark purple -> red -> orange -> pale yellow with lightness rising evenly (in OKLab).

    Lightness grows linearly in OKLab (a perceptual space), so equal dB steps look like equal
    steps; the hue turns from purple to yellow and the chroma is the largest the sRGB gamut
    allows up to a smooth maximum, found by bisection per entry.
    """
    t = np.linspace(0.0, 1.0, size)
    lightness = 0.13 + 0.84 * t
    hue = np.deg2rad(285.0 + 170.0 * t)
    wanted = 0.22 * np.sin(np.pi * t) ** 0.6

    def linear_rgb(chroma: np.ndarray) -> np.ndarray:
        a, b = chroma * np.cos(hue), chroma * np.sin(hue)
        lms = (
            np.stack(
                [
                    lightness + 0.3963377774 * a + 0.2158037573 * b,
                    lightness - 0.1055613458 * a - 0.0638541728 * b,
                    lightness - 0.0894841775 * a - 1.2914855480 * b,
                ]
            )
            ** 3
        )
        to_rgb = np.array(
            [
                [4.0767416621, -3.3077115913, 0.2309699292],
                [-1.2684380046, 2.6097574011, -0.3413193965],
                [-0.0041960863, -0.7034186147, 1.7076147010],
            ]
        )
        return (to_rgb @ lms).T

    low, high = np.zeros(size), wanted
    for _ in range(30):
        middle = 0.5 * (low + high)
        rgb = linear_rgb(middle)
        inside = ((rgb >= -1e-9) & (rgb <= 1.0 + 1e-9)).all(axis=1)
        low, high = np.where(inside, middle, low), np.where(inside, high, middle)
    rgb = np.clip(linear_rgb(low), 0.0, 1.0)
    srgb = np.where(rgb <= 0.0031308, 12.92 * rgb, 1.055 * rgb ** (1 / 2.4) - 0.055)
    return np.round(srgb * 255).astype(np.uint8)


COLORMAP = _perceptual_colormap()


@dataclass(frozen=True)
class Marker:
    """A timed event (``end_s`` None) or a time range, with an optional label."""

    start_s: float
    end_s: float | None = None
    label: str = ""


def parse_marker(text: str) -> Marker:
    """A marker written as ``START:END:LABEL`` in seconds: ``2.5:4:door``, or ``7::bang`` (END
    empty) for a single event; the label may be left out.

    Raises ValueError showing the expected form; the times are checked against the audio by
    ``render``.
    """
    start, _, rest = text.partition(":")
    end, _, label = rest.partition(":")
    try:
        return Marker(float(start), float(end) if end.strip() else None, label.strip())
    except ValueError:
        raise ValueError(
            f"marker {text!r}: expected START:END:LABEL in seconds, e.g. 2.5:4:door or 7::bang"
        ) from None


@dataclass(frozen=True)
class Box:
    """A rectangle of pixels: rows ``top`` to ``bottom`` - 1, columns ``left`` to ``right`` - 1."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left


@dataclass(frozen=True)
class Layout:
    """Where everything goes: ``boxes`` maps lane/panel names to their rectangles.

    Waveform lanes are named ``waveform 0``, ``waveform 1`` (one per channel; in a stack, one per
    track); the others ``spectrogram`` and ``loudness``. ``plot`` spans all of them and the time
    axis runs along its bottom edge; ``font_px`` is the text size.
    """

    width: int
    height: int
    plot: Box
    boxes: dict[str, Box]
    font_px: int

    def column_of_time(self, seconds: float, duration_s: float) -> float:
        """Pixel column (fractional) of a time in a clip ``duration_s`` long."""
        return self.plot.left + seconds / duration_s * self.plot.width


def _check_size(width: int, height: int) -> tuple[int, int]:
    for name, value, (low, high) in (
        ("width", width, WIDTH_RANGE),
        ("height", height, HEIGHT_RANGE),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"picture {name} must be a whole number of pixels, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"picture {name} must be between {low} and {high} px, got {value}")
    return int(width), int(height)


def _check_panels(panels: Sequence[str]) -> tuple[str, ...]:
    if isinstance(panels, str):
        panels = [name.strip() for name in panels.split(",")]
    unknown = [name for name in panels if name not in PANELS]
    if unknown or not panels:
        raise ValueError(
            f"panels must be one or more of {', '.join(PANELS)}; got {', '.join(panels) or 'none'}"
        )
    return tuple(name for name in PANELS if name in panels)


def layout(
    width: int = 1280,
    height: int = 720,
    panels: Sequence[str] = PANELS,
    lanes: int = 1,
    title: bool = True,
) -> Layout:
    """Place the panels of a ``width`` x ``height`` picture with ``lanes`` waveform lanes.

    Raises ValueError for a size out of range or too small for the panels asked for.
    """
    width, height = _check_size(width, height)
    panels = _check_panels(panels)
    font = max(10, min(32, round(15 * min(width / 1280, height / 540))))
    left = round(4.2 * font)
    right = round(4.6 * font) if "spectrogram" in panels else round(0.8 * font)
    top = round(1.9 * font) if title else round(0.6 * font)
    bottom = height - round(1.9 * font)
    gap = max(3, round(0.5 * font))
    plot = Box(top, bottom, left, width - right)

    weights = [_PANEL_WEIGHTS[name] for name in panels]
    free = plot.height - gap * (len(panels) - 1)
    heights = [math.floor(free * w / sum(weights)) for w in weights]
    lane_gap = max(2, gap // 2)
    boxes: dict[str, Box] = {}
    row = plot.top
    for name, panel_height in zip(panels, heights, strict=True):
        if name == "waveform":
            lane_height = (panel_height - lane_gap * (lanes - 1)) // lanes
            if lane_height < MIN_LANE_PX:
                raise ValueError(
                    f"a {width}x{height} picture is too small for {lanes} waveform lane(s) "
                    f"and the panels {', '.join(panels)}: make it taller or draw fewer panels"
                )
            for lane in range(lanes):
                start = row + lane * (lane_height + lane_gap)
                boxes[f"waveform {lane}"] = Box(start, start + lane_height, plot.left, plot.right)
        else:
            if panel_height < MIN_LANE_PX:
                raise ValueError(
                    f"a {width}x{height} picture is too small for the panels "
                    f"{', '.join(panels)}: make it taller or draw fewer panels"
                )
            boxes[name] = Box(row, row + panel_height, plot.left, plot.right)
        row += panel_height + gap
    return Layout(width, height, plot, boxes, font)


def _column_starts(samples: int, columns: int) -> np.ndarray:
    """First sample of each pixel column; columns share a sample when there are fewer samples."""
    return (np.arange(columns, dtype=np.int64) * samples) // columns


def amplitude_row(box: Box, amplitude: np.ndarray | float) -> np.ndarray:
    """Row of an amplitude in a waveform lane: +1 at the top, 0 in the middle, -1 at the bottom."""
    clipped = np.clip(amplitude, -1.0, 1.0)
    return np.round(box.top + (1.0 - clipped) * 0.5 * (box.height - 1)).astype(np.int64)


def hz_row(box: Box, hz: np.ndarray | float, nyquist: float) -> np.ndarray:
    """Fractional row of a frequency on the spectrogram's log axis (Nyquist at the top edge)."""
    position = np.log(np.asarray(hz) / nyquist) / math.log(SPECTROGRAM_MIN_HZ / nyquist)
    return box.top + position * box.height


def lufs_row(box: Box, lufs: np.ndarray | float) -> np.ndarray:
    """Row of a loudness in the loudness panel (0 LUFS at the top, -60 at the bottom)."""
    low, high = LOUDNESS_AXIS_LUFS
    clipped = np.clip(lufs, low, high)
    return np.round(box.top + (high - clipped) / (high - low) * (box.height - 1)).astype(np.int64)


def _fill_columns(
    canvas: np.ndarray, box: Box, first: np.ndarray, last: np.ndarray, colour, where=None
) -> None:
    """Paint rows ``first[j]`` .. ``last[j]`` (inclusive) of each column j of ``box``."""
    rows = np.arange(box.top, box.bottom)[:, None]
    mask = (rows >= first[None, :]) & (rows <= last[None, :])
    if where is not None:
        mask &= where[None, :]
    area = canvas[box.top : box.bottom, box.left : box.right]
    if np.ndim(colour) == 2:  # one colour per column
        area[mask] = np.broadcast_to(colour[None], (box.height, box.width, 3))[mask]
    else:
        area[mask] = colour


def _hline(canvas: np.ndarray, box: Box, row: int, colour, dash: int = 0) -> None:
    if not box.top <= row < box.bottom:
        return
    line = canvas[row, box.left : box.right]
    if dash:
        on = (np.arange(box.width) // dash) % 2 == 0
        line[on] = colour
    else:
        line[:] = colour


class _Text:
    """Labels collected while drawing with numpy, put on the picture at the end by Pillow."""

    def __init__(self) -> None:
        self.items: list[tuple[float, float, str, tuple, str]] = []

    def add(self, x: float, y: float, text: str, colour=_TEXT, align: str = "left") -> None:
        """``x``, ``y``: left/right/centre (by ``align``) and vertical middle of the text."""
        self.items.append((x, y, text, colour, align))

    def draw(self, canvas: np.ndarray, font_px: int) -> np.ndarray:
        image_module, draw_module, _ = require_pillow()
        image = image_module.fromarray(canvas)
        draw = draw_module.Draw(image)
        font = _font(font_px)
        for x, y, text, colour, align in self.items:
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            width = right - left
            x0 = {"left": x, "right": x - width, "center": x - width / 2}[align] - left
            y0 = y - (top + bottom) / 2
            draw.text((round(x0), round(y0)), text, fill=colour, font=font)
        return np.asarray(image).copy()


@lru_cache(maxsize=8)
def _font(size: int):
    """Pillow's built-in scalable font (no system fonts needed), loaded once per size."""
    return require_pillow()[2].load_default(size=size)


def require_pillow():
    """Return Pillow's (Image, ImageDraw, ImageFont), or raise ImportError saying what to do."""
    try:
        import PIL
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as exc:
        raise ImportError(
            "text on the picture and PNG files need Pillow: pip install pillow (or install "
            "this package with its [view] extra)"
        ) from exc
    version = tuple(int(part) for part in PIL.__version__.split(".")[:2])
    if version < (10, 1):
        raise ImportError(
            f"text on the picture needs Pillow 10.1 or newer (scalable built-in font), found "
            f"{PIL.__version__}: pip install -U pillow"
        )
    return Image, ImageDraw, ImageFont


def _require_pillow_for_text() -> None:
    try:
        require_pillow()
    except ImportError as exc:
        raise ImportError(f"{exc}; or pass text=False to draw without labels") from exc


def _nice_step(span: float, most: int) -> float:
    """Smallest 1-2-5 step that divides ``span`` into at most ``most`` intervals."""
    step = 10.0 ** math.floor(math.log10(max(span, 1e-9) / max(most, 1)))
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= most:
            return step * factor
    return step * 10


def _draw_time_axis(
    canvas: np.ndarray, text: _Text, plan: Layout, duration_s: float, boxes: list[Box]
) -> None:
    step = _nice_step(duration_s, max(1, plan.plot.width // (6 * plan.font_px)))
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    ticks = np.arange(0.0, duration_s + 1e-9, step)
    for tick in ticks:
        column = min(plan.plot.right - 1, round(plan.column_of_time(tick, duration_s)))
        for box in boxes:  # faint grid line through every panel
            canvas[box.top : box.bottom, column] = np.maximum(
                canvas[box.top : box.bottom, column], _GRID
            )
        tick_top = plan.plot.bottom + 1
        canvas[tick_top : tick_top + max(3, plan.font_px // 3), column] = _DIM_TEXT
        text.add(
            column,
            plan.plot.bottom + 1.2 * plan.font_px,
            f"{tick:.{decimals}f}",
            _DIM_TEXT,
            "center",
        )
    text.add(
        plan.plot.left - 1.8 * plan.font_px,
        plan.plot.bottom + 1.2 * plan.font_px,
        "s",
        _DIM_TEXT,
        "right",
    )


def _draw_waveform_lane(
    canvas: np.ndarray,
    box: Box,
    audio: np.ndarray,
    overs: np.ndarray | None,
) -> None:
    """Min/max envelope (over all of ``audio``'s channels) and RMS per column of ``box``."""
    canvas[box.top : box.bottom, box.left : box.right] = _PANEL
    samples = audio.shape[1]
    starts = _column_starts(samples, box.width)
    low = np.minimum.reduceat(audio, starts, axis=1).min(axis=0)
    high = np.maximum.reduceat(audio, starts, axis=1).max(axis=0)
    counts = np.diff(np.append(starts, samples)).clip(min=1)
    energy = np.add.reduceat(np.square(audio, dtype=np.float64), starts, axis=1).mean(axis=0)
    rms = np.sqrt(energy / counts)
    for level in (0.5, -0.5):
        _hline(canvas, box, int(amplitude_row(box, level)), _GRID, dash=4)
    _hline(canvas, box, int(amplitude_row(box, 0.0)), _GRID)
    # Peaks of columns with a true-peak over are red; the RMS inside them keeps its colour so
    # the sound's shape stays readable under a long run of overs.
    peaks = _WAVE if overs is None else np.where(overs[:, None], _OVER, _WAVE)
    _fill_columns(canvas, box, amplitude_row(box, high), amplitude_row(box, low), peaks)
    # RMS sits inside the envelope; clamp it there so it never paints outside the peaks.
    rms_top = np.maximum(amplitude_row(box, np.minimum(rms, high)), amplitude_row(box, high))
    rms_bottom = np.minimum(amplitude_row(box, -np.minimum(rms, -low)), amplitude_row(box, low))
    _fill_columns(canvas, box, rms_top, rms_bottom, _WAVE_RMS)
    if overs is not None:
        tick = np.full(box.width, box.top)
        _fill_columns(canvas, box, tick, tick + 2, _OVER, overs)


def _overs_per_column(
    audio: np.ndarray, sample_rate: int, columns: int, ceiling_dbtp: float
) -> np.ndarray:
    envelope = true_peak_envelope(audio, sample_rate)
    peaks = np.maximum.reduceat(envelope, _column_starts(len(envelope), columns))
    return peaks > 10.0 ** (ceiling_dbtp / 20.0)


def _spectrogram_db(audio: np.ndarray, sample_rate: int, box: Box) -> np.ndarray:
    """dB image [rows, columns] of ``box``: loudest bin and frame per pixel, top row = Nyquist."""
    n_fft = int(2 ** round(math.log2(_SPECTROGRAM_WINDOW_S * sample_rate)))
    n_fft = min(8192, max(256, n_fft))
    channels, samples = audio.shape
    columns = box.width
    # Enough frames per column that the hop stays under 60 % of the window, so no sound falls
    # between two frames' tails.
    per_column = max(1, math.ceil(samples / columns / (0.6 * n_fft)))
    centres = ((np.arange(columns * per_column) + 0.5) * samples / (columns * per_column)).astype(
        np.int64
    )
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
    # |X|^2 scaled so that a full-scale sine reads 1 (0 dB) in its peak bin.
    scale = (2.0 / window.sum()) ** 2
    half = n_fft // 2
    bins = half + 1
    power = np.empty((columns, bins), np.float32)
    # Whole columns per chunk, about 4096 frames: bounded memory however long the clip.
    chunk = max(1, 4096 // (channels * per_column))
    for first in range(0, columns, chunk):
        last = min(columns, first + chunk)
        part = centres[first * per_column : last * per_column]
        # The samples these frames cover, zero beyond the clip's ends, as float32.
        begin, stop = part[0] - half, part[-1] + half
        segment = np.zeros((channels, stop - begin), np.float32)
        inside = slice(max(begin, 0), min(stop, samples))
        segment[:, inside.start - begin : inside.stop - begin] = audio[:, inside]
        frames = np.lib.stride_tricks.sliding_window_view(segment, n_fft, axis=1)
        spectrum = scipy.fft.rfft(frames[:, part - part[0]] * window, axis=2)
        frame_power = (spectrum.real**2 + spectrum.imag**2).mean(axis=0)
        power[first:last] = frame_power.reshape(last - first, per_column, bins).max(axis=1)
    power *= scale

    # Rows: log-spaced bands from Nyquist (top) down to the lowest frequency shown.
    nyquist = sample_rate / 2
    edges = nyquist * (SPECTROGRAM_MIN_HZ / nyquist) ** (np.arange(box.height + 1) / box.height)
    hz_per_bin = sample_rate / n_fft
    high_bin, low_bin = edges[:-1] / hz_per_bin, edges[1:] / hz_per_bin
    first, last = np.ceil(low_bin).astype(np.int64), np.floor(high_bin).astype(np.int64)
    wide = first <= last  # rows covering at least one bin: loudest bin in the band
    padded_power = np.concatenate([power, np.zeros((columns, 1), np.float32)], axis=1)
    bounds = np.stack([first, last + 1], axis=1).clip(max=bins).ravel()
    band_max = np.maximum.reduceat(padded_power, np.minimum(bounds, bins), axis=1)[:, ::2]
    # Narrow rows (below one bin): interpolate between the two bins around the row's centre.
    centre = np.sqrt(low_bin * high_bin)
    below = np.floor(centre).astype(np.int64).clip(max=bins - 2)
    frac = (centre - below).astype(np.float32)
    between = power[:, below] * (1 - frac) + power[:, below + 1] * frac
    image = np.where(wide[None, :], band_max, between).T
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.maximum(image, 1e-30))


def _draw_spectrogram(
    canvas: np.ndarray, text: _Text, plan: Layout, db: np.ndarray, rate: int, db_floor: float
) -> None:
    box = plan.boxes["spectrogram"]
    index = np.clip((db - db_floor) / -db_floor * 255.0, 0, 255).astype(np.uint8)
    canvas[box.top : box.bottom, box.left : box.right] = COLORMAP[index]
    nyquist = rate / 2
    last_row = math.inf
    for hz in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000):
        row = float(hz_row(box, hz, nyquist))
        # Labels run upwards; skip one that would touch the one below it.
        if SPECTROGRAM_MIN_HZ < hz < nyquist and last_row - row >= 1.1 * plan.font_px:
            last_row = row
            label = f"{hz // 1000}k" if hz >= 1000 else str(hz)
            text.add(box.left - 0.5 * plan.font_px, row, label, _DIM_TEXT, "right")
            canvas[round(row), box.left - max(3, plan.font_px // 3) : box.left] = _DIM_TEXT
    text.add(
        box.left - 0.5 * plan.font_px, box.bottom - 0.5 * plan.font_px, "Hz", _DIM_TEXT, "right"
    )
    # Colour bar with its dB scale, right of the panel.
    bar_left = box.right + round(0.6 * plan.font_px)
    bar = Box(box.top, box.bottom, bar_left, bar_left + max(6, round(0.7 * plan.font_px)))
    levels = np.linspace(255, 0, bar.height).astype(np.uint8)
    canvas[bar.top : bar.bottom, bar.left : bar.right] = COLORMAP[levels][:, None, :]
    step = 20 if -db_floor >= 60 else 10
    for level in np.arange(0, db_floor - 1e-9, -step):
        row = bar.top + (level / db_floor) * (bar.height - 1)
        text.add(bar.right + 0.4 * plan.font_px, row, f"{level:.0f}", _DIM_TEXT)
    text.add(bar.left, bar.bottom + 1.2 * plan.font_px, "dB", _DIM_TEXT)


def _draw_loudness(
    canvas: np.ndarray,
    text: _Text,
    plan: Layout,
    values: np.ndarray,
    target_lufs: float | None,
) -> None:
    """Short-term loudness ``values`` [columns] as a filled curve, with the target line."""
    box = plan.boxes["loudness"]
    canvas[box.top : box.bottom, box.left : box.right] = _PANEL
    low, high = LOUDNESS_AXIS_LUFS
    ten_lu_px = 10.0 / (high - low) * box.height
    label_every = 10 if ten_lu_px >= 1.2 * plan.font_px else 20
    for level in np.arange(high - 10, low, -10):
        row = int(lufs_row(box, level))
        _hline(canvas, box, row, _GRID, dash=4)
        if level % label_every == 0:
            text.add(box.left - 0.5 * plan.font_px, row, f"{level:.0f}", _DIM_TEXT, "right")
    text.add(
        box.left - 0.5 * plan.font_px, box.top + 0.5 * plan.font_px, "LUFS", _DIM_TEXT, "right"
    )
    audible = values > low
    rows = lufs_row(box, values)
    _fill_columns(canvas, box, rows, np.full(box.width, box.bottom), _LOUDNESS_FILL, audible)
    # The curve joins each column to the next, two pixels thick.
    following = np.append(rows[1:], rows[-1])
    first = np.minimum(rows, following)
    last = np.maximum(rows, following) + 1
    _fill_columns(canvas, box, first, last, _LOUDNESS_LINE, audible)
    if target_lufs is not None:
        row = int(lufs_row(box, target_lufs))
        _hline(canvas, box, row, _TARGET, dash=6)
        text.add(
            box.right - 0.3 * plan.font_px,
            row - 0.7 * plan.font_px,
            f"target {target_lufs:g} LUFS",
            _TARGET,
            "right",
        )
    text.add(
        box.left + 0.4 * plan.font_px,
        box.bottom - 0.8 * plan.font_px,
        "short-term loudness (3 s)",
        _DIM_TEXT,
    )


def _loudness_curve(audio: np.ndarray, rate: int, columns: int) -> np.ndarray:
    centres = (np.arange(columns) + 0.5) * audio.shape[1] / columns / rate
    return short_term_lufs(audio, rate, centres)


def _in_parallel(jobs: dict[str, Callable[[], np.ndarray]]) -> dict[str, np.ndarray]:
    """Run independent analyses on threads: numpy and scipy's FFTs and filters release the GIL."""
    if len(jobs) < 2:
        return {name: job() for name, job in jobs.items()}
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def _check_markers(markers: Sequence, duration_s: float) -> list[Marker]:
    checked = []
    for item in markers:
        try:
            marker = item if isinstance(item, Marker) else Marker(*item)
        except TypeError:
            raise ValueError(
                f"marker {item!r}: expected (start_s, end_s or None, label) or a Marker"
            ) from None
        start, end = marker.start_s, marker.end_s
        numbers = [start] if end is None else [start, end]
        if not all(
            isinstance(n, int | float | np.number) and not isinstance(n, bool) and math.isfinite(n)
            for n in numbers
        ):
            raise ValueError(f"marker {item!r}: start and end must be finite numbers of seconds")
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"marker {item!r}: needs 0 <= start_s <= end_s")
        if start > duration_s:
            raise ValueError(
                f"marker {item!r} starts after the end of the audio ({duration_s:.3f} s)"
            )
        checked.append(marker)
    return checked


def _draw_markers(
    canvas: np.ndarray, text: _Text, plan: Layout, markers: list[Marker], duration_s: float
) -> None:
    plot = plan.plot
    for index, marker in enumerate(markers):
        colour = np.array(_MARKER_COLOURS[index % len(_MARKER_COLOURS)])
        first = min(plot.right - 1, math.floor(plan.column_of_time(marker.start_s, duration_s)))
        if marker.end_s is None:
            canvas[plot.top : plot.bottom, first : first + 2] = colour
        else:
            end = min(marker.end_s, duration_s)
            last = min(plot.right - 1, max(first, math.ceil(plan.column_of_time(end, duration_s))))
            span = canvas[plot.top : plot.bottom, first : last + 1].astype(np.float32)
            blended = span * (1 - _MARKER_ALPHA) + colour * _MARKER_ALPHA
            canvas[plot.top : plot.bottom, first : last + 1] = blended.astype(np.uint8)
            canvas[plot.top : plot.bottom, first] = colour
            canvas[plot.top : plot.bottom, last] = colour
        if marker.label:
            text.add(
                first + 0.4 * plan.font_px,
                plot.top + (0.7 + 1.1 * (index % 3)) * plan.font_px,
                marker.label,
                tuple(int(c) for c in colour),
            )


def _check_common(
    sample_rate: int, target_lufs: float | None, ceiling_dbtp: float, db_floor: float
) -> int:
    rate = check_sample_rate(sample_rate)
    if target_lufs is not None:
        check_level(target_lufs, "target_lufs", LOUDNESS_RANGE_LUFS, "LUFS")
    check_level(ceiling_dbtp, "ceiling_dbtp", CEILING_RANGE_DBTP, "dBTP")
    check_level(db_floor, "db_floor", (-200.0, -20.0), "dB")
    return rate


def _summary(audio: np.ndarray, rate: int, overs: np.ndarray | None, ceiling: float) -> str:
    kind = {1: "mono", 2: "stereo"}[audio.shape[0]]
    text = f"{audio.shape[1] / rate:.2f} s, {rate / 1000:g} kHz {kind}"
    if overs is not None and overs.any():
        text += f", true peak over {ceiling:g} dBTP"
    return text


def render(
    waveform: torch.Tensor | np.ndarray,
    sample_rate: int,
    *,
    width: int = 1280,
    height: int = 720,
    panels: Sequence[str] = PANELS,
    target_lufs: float | None = -16.0,
    ceiling_dbtp: float = 0.0,
    markers: Sequence[Marker | tuple] = (),
    title: str = "",
    text: bool = True,
    db_floor: float = -100.0,
) -> np.ndarray:
    """Picture of ``waveform`` [channels, samples] or [samples] as uint8 [height, width, 3].

    ``panels`` picks from ``PANELS`` (or a comma-separated string); ``target_lufs`` None draws
    no target line; columns whose true peak is over ``ceiling_dbtp`` are red; ``markers`` are
    ``Marker``s or (start_s, end_s or None, label) tuples; ``title`` goes top left, the clip's
    facts top right. ``text=False`` draws no text and needs no Pillow.
    Raises ValueError for bad audio (empty, NaN/inf, wrong shape), rates, sizes or options, and
    ImportError (saying what to install) when text is asked for without Pillow.
    """
    rate = _check_common(sample_rate, target_lufs, ceiling_dbtp, db_floor)
    audio = as_array(waveform)
    plan = layout(width, height, panels, lanes=audio.shape[0], title=text)
    duration_s = audio.shape[1] / rate
    checked_markers = _check_markers(markers, duration_s)
    if text:
        _require_pillow_for_text()  # fail before the drawing work, not after it

    columns = plan.plot.width
    jobs = {}
    if "waveform 0" in plan.boxes:
        jobs["overs"] = lambda: _overs_per_column(audio, rate, columns, ceiling_dbtp)
    if "spectrogram" in plan.boxes:
        jobs["spectrogram"] = lambda: _spectrogram_db(audio, rate, plan.boxes["spectrogram"])
    if "loudness" in plan.boxes:
        jobs["loudness"] = lambda: _loudness_curve(audio, rate, columns)
    analyses = _in_parallel(jobs)

    canvas = np.empty((plan.height, plan.width, 3), np.uint8)
    canvas[:] = _BACKGROUND
    labels = _Text()
    overs = analyses.get("overs")
    if overs is not None:
        for index in range(audio.shape[0]):
            box = plan.boxes[f"waveform {index}"]
            _draw_waveform_lane(canvas, box, audio[index : index + 1], overs)
            name = "L" if audio.shape[0] == 2 and index == 0 else "R" if index == 1 else ""
            for level, label in ((1.0, "0 dB"), (0.5, "-6"), (0.0, name)):
                if label and box.height >= 4 * plan.font_px:
                    row = float(amplitude_row(box, level)) + (
                        0.4 * plan.font_px if level == 1.0 else 0.0
                    )
                    labels.add(box.left - 0.5 * plan.font_px, row, label, _DIM_TEXT, "right")
    if "spectrogram" in plan.boxes:
        _draw_spectrogram(canvas, labels, plan, analyses["spectrogram"], rate, db_floor)
    # Time grid lines everywhere but on the spectrogram, whose colours are its data.
    gridded = [box for name, box in plan.boxes.items() if name != "spectrogram"]
    if "loudness" in plan.boxes:
        _draw_loudness(canvas, labels, plan, analyses["loudness"], target_lufs)
    _draw_time_axis(canvas, labels, plan, duration_s, gridded)
    _draw_markers(canvas, labels, plan, checked_markers, duration_s)
    return _with_text(canvas, labels, plan, text, title, _summary(audio, rate, overs, ceiling_dbtp))


def render_batch(
    waveforms: torch.Tensor | np.ndarray,
    sample_rate: int,
    *,
    lengths: Sequence[int] | None = None,
    titles: Sequence[str] | None = None,
    **options,
) -> np.ndarray:
    """Pictures of a batch [batch, channels, samples] as uint8 [batch, height, width, 3].

    ``lengths`` gives each item's real number of samples when the batch is padded (as ComfyUI
    and the pipeline pad variations); ``titles`` one title per item. ``options`` as ``render``.
    """
    if isinstance(waveforms, torch.Tensor):
        waveforms = waveforms.detach().cpu()
    if waveforms.ndim != 3:
        raise ValueError(
            f"a batch must be shaped [batch, channels, samples], got {tuple(waveforms.shape)}"
        )
    count = waveforms.shape[0]
    if count == 0:
        raise ValueError("the batch holds no audio")
    lengths = [waveforms.shape[2]] * count if lengths is None else list(lengths)
    titles = [""] * count if titles is None else list(titles)
    if len(lengths) != count or len(titles) != count:
        raise ValueError(f"lengths and titles must have one entry per batch item ({count})")
    pictures = []
    for index in range(count):
        length = lengths[index]
        if not 0 < length <= waveforms.shape[2]:
            raise ValueError(
                f"batch item {index}: length {length} must be between 1 and {waveforms.shape[2]}"
            )
        item = as_array(waveforms[index, :, :length], f"batch item {index}")
        pictures.append(render(item, sample_rate, title=titles[index], **options))
    return np.stack(pictures)


def render_stack(
    tracks: Sequence[tuple[str, torch.Tensor | np.ndarray]],
    mix: torch.Tensor | np.ndarray,
    sample_rate: int,
    *,
    width: int = 1280,
    height: int = 720,
    loudness: bool = True,
    target_lufs: float | None = -16.0,
    ceiling_dbtp: float = -1.0,
    markers: Sequence[Marker | tuple] = (),
    title: str = "",
    text: bool = True,
) -> np.ndarray:
    """The mixer's picture: one lane per (name, waveform) track, then the mix, on one time axis.

    Tracks are the layers as they sit in the mix (same rate, starting at the mix's start, e.g.
    after offset, gain and ducking), so their lanes share one amplitude scale and ducking shows
    as a narrower envelope. Lanes show the envelope over both channels; the mix lane marks true
    peaks over ``ceiling_dbtp`` in red, and ``loudness`` adds the mix's short-term loudness.
    """
    rate = _check_common(sample_rate, target_lufs, ceiling_dbtp, -100.0)
    mix_audio = as_array(mix, "mix")
    arrays = []
    for index, (name, waveform) in enumerate(tracks):
        array = as_array(waveform, f"track {index} ({name})")
        if array.shape[1] > mix_audio.shape[1]:
            raise ValueError(
                f"track {index} ({name}) is longer than the mix ({array.shape[1]} > "
                f"{mix_audio.shape[1]} samples); pass the layers as placed in the mix"
            )
        arrays.append(array)
    names = [name for name, _ in tracks] + ["mix"]
    panels = ("waveform", "loudness") if loudness else ("waveform",)
    plan = layout(width, height, panels, lanes=len(names), title=text)
    duration_s = mix_audio.shape[1] / rate
    checked_markers = _check_markers(markers, duration_s)
    if text:
        _require_pillow_for_text()

    canvas = np.empty((plan.height, plan.width, 3), np.uint8)
    canvas[:] = _BACKGROUND
    labels = _Text()
    columns = plan.plot.width
    jobs = {"overs": lambda: _overs_per_column(mix_audio, rate, columns, ceiling_dbtp)}
    if loudness:
        jobs["loudness"] = lambda: _loudness_curve(mix_audio, rate, columns)
    analyses = _in_parallel(jobs)
    overs = analyses["overs"]
    for index, audio in enumerate([*arrays, mix_audio]):
        box = plan.boxes[f"waveform {index}"]
        is_mix = index == len(arrays)
        if audio.shape[1] < mix_audio.shape[1]:  # silent after its end; pad so columns line up
            audio = np.pad(audio, ((0, 0), (0, mix_audio.shape[1] - audio.shape[1])))
        _draw_waveform_lane(canvas, box, audio, overs if is_mix else None)
        labels.add(box.left + 0.4 * plan.font_px, box.top + 0.7 * plan.font_px, names[index], _TEXT)
    if loudness:
        _draw_loudness(canvas, labels, plan, analyses["loudness"], target_lufs)
    _draw_time_axis(canvas, labels, plan, duration_s, list(plan.boxes.values()))
    _draw_markers(canvas, labels, plan, checked_markers, duration_s)
    summary = _summary(mix_audio, rate, overs, ceiling_dbtp)
    return _with_text(canvas, labels, plan, text, title, summary)


def _with_text(canvas, labels, plan, text: bool, title: str, summary: str) -> np.ndarray:
    """The picture with its labels, the title at the top left and the summary at the top right
    (or without any text when ``text`` is False: no Pillow needed)."""
    if not text:
        return canvas
    middle = 0.95 * plan.font_px
    if title:
        labels.add(plan.plot.left, middle, title, _TEXT)
    labels.add(plan.width - 0.5 * plan.font_px, middle, summary, _DIM_TEXT, "right")
    return labels.draw(canvas, plan.font_px)


def save_png(image: np.ndarray, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a uint8 [height, width, 3] picture to ``path`` (.png) without ever leaving half a file.

    Raises ValueError for a bad picture or suffix, FileNotFoundError when the folder is missing,
    FileExistsError when the file exists and ``overwrite`` is false.
    """
    path = Path(path)
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
    ):
        raise ValueError("save_png needs a uint8 picture shaped [height, width, 3]")
    if path.suffix.lower() != ".png":
        raise ValueError(f"the picture's file name must end in .png, got {path}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder {path.parent} for the picture does not exist")
    exists = f"{path} already exists; choose another name or overwrite it"
    if path.exists() and not overwrite:
        raise FileExistsError(exists)
    image_module = require_pillow()[0]
    encoded = io.BytesIO()
    image_module.fromarray(image).save(encoded, format="PNG")
    try:
        return write_atomically(path, encoded.getbuffer(), overwrite=overwrite)
    except FileExistsError:  # made by someone else while the picture was encoded
        raise FileExistsError(exists) from None
