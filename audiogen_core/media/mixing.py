"""Mixer DSP: turn several audio layers into one finished soundtrack.

Signal flow of ``mix`` (every step in float64, output float32):

1. each layer is validated, trimmed at its own rate, resampled to the output rate (python-soxr,
   very high quality), given its gain, converted to the output channels with a constant-power
   pan, faded (equal-power curves) and placed at its offset, landing on sample
   ``round(offset_s * sample_rate)``;
2. an optional ducker lowers every layer except its key layer while the key is active, like a
   broadcast voice-over ducker;
3. the audible layers are summed, the master fades applied, and the sum is turned to the
   loudness target (ITU-R BS.1770-4 / EBU R128) without crossing the true-peak ceiling.

Conventions an engineer would ask about:
- Pan is constant power. A mono layer at centre sends -3 dB to each side; a stereo layer's pan is
  a balance that keeps its power constant (centre leaves it untouched, hard right sends only its
  right channel, 3 dB up). Pan has no effect on a mono output, where stereo layers are folded
  down as (L + R) / 2.
- Fades are equal-power (sine / cosine), so a fade-out and a fade-in that overlap exactly keep
  the power constant. A fade longer than its layer is shortened to the layer; fade-in and
  fade-out that overlap multiply.
- Mute and solo change only what is heard: a layer is heard unless muted, and when any layer is
  soloed only soloed layers are heard. Neither changes the length of the mix, and the ducker's
  key drives the ducking even when the key itself is muted or not soloed, so a soloed music layer
  is heard exactly as it sits in the mix.
- Layers at different sample rates are resampled to the output rate; that is the intended way to
  combine them, not an error.
- The mix lasts until the end of its longest layer, or exactly ``duration_s`` when given (padded
  with silence or cut; use the master fade-out to avoid a hard cut).
- The true-peak ceiling always holds: without a loudness target a mix peaking above it is turned
  down; with one, the gain stops at the ceiling and the report says the target was not reached,
  unless ``max_limiting_db`` lets a lookahead true-peak limiter shave the loudest peaks.

Waveforms are float torch tensors or numpy arrays shaped [channels, samples] (or [samples]) with
1 or 2 channels; ``mix`` returns a float32 torch tensor shaped [channels, samples].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .loudness import (
    CEILING_RANGE_DBTP,
    LOUDNESS_RANGE_LUFS,
    MAX_LIMITING_DB,
    check_level,
    measure,
    normalize,
    normalize_loudness,
    true_peak_dbtp,
)
from .resampling import as_array, check_sample_rate, resample_array

__all__ = [
    "Ducking",
    "Layer",
    "MixResult",
    "MixSettings",
    "ducking_gain",
    "format_report",
    "measure",
    "mix",
    "normalize",
    "true_peak_dbtp",
]

MAX_GAIN_DB = 60.0  # beyond +-60 dB a gain is a typo, not a mix decision; mute to silence a layer
MAX_DEPTH_DB = 60.0
MAX_TIME_S = 10.0  # longest attack, release, hold
OUTPUT_CHANNELS = (1, 2)
_ENVELOPE_WINDOW_S = 0.010  # key level detector: RMS over 10 ms, short enough to catch onsets
_CONTROL_PERIOD_S = 0.001  # the ducker's gain is computed every millisecond, then interpolated


@dataclass
class Layer:
    """One input of the mixer and how it sits in the mix.

    ``trim_start_s`` / ``trim_end_s`` are positions in the source (``trim_end_s`` None or past
    the end means the source end); ``offset_s`` is where the trimmed layer starts in the mix.
    """

    waveform: torch.Tensor | np.ndarray
    sample_rate: int
    gain_db: float = 0.0
    pan: float = 0.0  # -1 hard left .. +1 hard right
    offset_s: float = 0.0
    trim_start_s: float = 0.0
    trim_end_s: float | None = None
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0
    mute: bool = False
    solo: bool = False
    name: str = ""


@dataclass
class Ducking:
    """Sidechain ducker: layer ``key_index`` lowers every other layer by ``depth_db``.

    The key is active while its RMS level (10 ms window, after its own gain and fades) is above
    ``threshold_db`` dBFS, and stays active ``hold_s`` longer so that gaps between words do not
    let the music pump. The gain moves in dB as a one-pole smoother: ``attack_s`` and
    ``release_s`` are its time constants going down and coming back (63 % of the way after one
    time constant, within 1 % of the way after five).
    """

    key_index: int
    depth_db: float = 12.0
    threshold_db: float = -40.0
    attack_s: float = 0.05
    release_s: float = 0.5
    hold_s: float = 0.3


@dataclass
class MixSettings:
    """Output format and master processing of a mix."""

    sample_rate: int = 48000
    channels: int = 2
    duration_s: float | None = None  # None: until the longest layer ends
    target_lufs: float | None = None  # None: no loudness normalisation
    true_peak_dbtp: float = -1.0
    max_limiting_db: float = 0.0  # limiter budget for reaching target_lufs; 0 = static gain only
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0


@dataclass
class MixResult:
    """The mix as a float32 tensor [channels, samples] and its loudness/peak report.

    ``layer_waveforms`` (only when ``mix`` is asked to keep them) holds each layer as it sits in
    the mix, float32 [channels, samples] over the mix's length: after its gain, pan, fades,
    offset and ducking, before the master fades and gain. For pictures of the mix
    (``view.render_stack``).
    """

    waveform: torch.Tensor
    sample_rate: int
    report: dict[str, Any] = field(default_factory=dict)
    layer_waveforms: list[torch.Tensor] | None = None


def _check_number(value: float, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value!r}")
    return float(value)


def _label(layer: Layer, index: int) -> str:
    return f"layer {layer.name!r}" if layer.name else f"layer {index}"


def _fade_curves(length: int, fade_in: int, fade_out: int) -> np.ndarray:
    """Equal-power gain over ``length`` samples: sin rise from 0, cos fall to just above 0.

    The fade-in starts at exactly 0; the fade-out's last sample is one step above 0, so a
    fade-out and a fade-in over the same samples sum to constant power (sin^2 + cos^2 = 1).
    """
    gain = np.ones(length)
    if fade_in:
        gain[:fade_in] *= np.sin(0.5 * np.pi * np.arange(fade_in) / fade_in)
    if fade_out:
        gain[length - fade_out :] *= np.cos(0.5 * np.pi * np.arange(fade_out) / fade_out)
    return gain


def _apply_fades(audio: np.ndarray, sample_rate: int, fade_in_s: float, fade_out_s: float) -> None:
    length = audio.shape[1]
    fade_in = min(length, round(fade_in_s * sample_rate))
    fade_out = min(length, round(fade_out_s * sample_rate))
    if fade_in or fade_out:
        audio *= _fade_curves(length, fade_in, fade_out)


def _pan(audio: np.ndarray, pan: float, channels: int) -> np.ndarray:
    """Convert to the output channel count with a constant-power pan (see module notes)."""
    if channels == 1:
        return audio.mean(axis=0, keepdims=True)
    angle = (pan + 1.0) * np.pi / 4.0  # 0 = hard left, pi/4 = centre, pi/2 = hard right
    left, right = np.cos(angle), np.sin(angle)
    if audio.shape[0] == 1:
        return np.concatenate([audio * left, audio * right])
    if pan == 0.0:  # exact unity at centre, not 1 +- 1 ulp
        return audio
    return audio * (np.sqrt(2.0) * np.array([[left], [right]]))


def _render_layer(
    layer: Layer, label: str, sample_rate: int, channels: int
) -> tuple[int, np.ndarray]:
    """Return (start sample in the mix, processed audio [channels, samples]) of one layer."""
    audio = as_array(layer.waveform, label)
    source_rate = check_sample_rate(layer.sample_rate, f"{label}: sample_rate")
    gain_db = _check_number(layer.gain_db, f"{label}: gain_db", -MAX_GAIN_DB, MAX_GAIN_DB)
    pan = _check_number(layer.pan, f"{label}: pan", -1.0, 1.0)
    offset_s = _check_number(layer.offset_s, f"{label}: offset_s", 0.0, math.inf)
    trim_start_s = _check_number(layer.trim_start_s, f"{label}: trim_start_s", 0.0, math.inf)
    for name in ("fade_in_s", "fade_out_s"):
        _check_number(getattr(layer, name), f"{label}: {name}", 0.0, math.inf)

    start = round(trim_start_s * source_rate)
    end = audio.shape[1]
    if layer.trim_end_s is not None:
        trim_end_s = _check_number(layer.trim_end_s, f"{label}: trim_end_s", 0.0, math.inf)
        end = min(end, round(trim_end_s * source_rate))
    if end <= start:
        raise ValueError(
            f"{label}: trimming leaves no audio (source is {audio.shape[1] / source_rate:.3f} s, "
            f"trim {trim_start_s:g} s to {layer.trim_end_s} s); trim_start_s must be before "
            "trim_end_s and the source end"
        )
    audio = resample_array(audio[:, start:end], source_rate, sample_rate)
    audio = _pan(audio, pan, channels) * 10.0 ** (gain_db / 20.0)
    _apply_fades(audio, sample_rate, layer.fade_in_s, layer.fade_out_s)
    return round(offset_s * sample_rate), audio


def _check_ducking(ducking: Ducking, layer_count: int) -> None:
    index = ducking.key_index
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise ValueError(f"ducking key_index must be a layer index, got {index!r}")
    if not 0 <= index < layer_count:
        raise ValueError(
            f"ducking key_index {index} does not name a layer: there are {layer_count} "
            f"(indices 0 to {layer_count - 1})"
        )
    _check_number(ducking.depth_db, "ducking depth_db", 0.0, MAX_DEPTH_DB)
    _check_number(ducking.threshold_db, "ducking threshold_db", -120.0, 0.0)
    for name in ("attack_s", "release_s", "hold_s"):
        _check_number(getattr(ducking, name), f"ducking {name}", 0.0, MAX_TIME_S)


def ducking_gain(key: np.ndarray, sample_rate: int, ducking: Ducking) -> np.ndarray:
    """Linear gain curve [samples] that ``ducking`` applies while ``key`` [channels, samples] plays.

    The key level is computed every millisecond as the RMS of the last 10 ms (mean power over the
    channels); the gain in dB follows a one-pole smoother towards -depth while the key is active
    (attack) and back to 0 dB otherwise (release), and is interpolated to every sample.
    """
    samples = key.shape[1]
    hop = max(1, round(_CONTROL_PERIOD_S * sample_rate))
    window = max(hop, round(_ENVELOPE_WINDOW_S * sample_rate))
    power = np.concatenate([[0.0], np.cumsum(np.mean(key**2, axis=0))])
    ends = np.arange(hop, samples + hop, hop).clip(max=samples)  # each control period's end
    starts = (ends - window).clip(min=0)
    mean_power = (power[ends] - power[starts]) / (ends - starts)
    above = mean_power > 10.0 ** (ducking.threshold_db / 10.0)

    # Hold: active while the key was above threshold within the last hold_s.
    index = np.arange(len(above))
    last_above = np.maximum.accumulate(np.where(above, index, -(10**12)))
    active = index - last_above <= round(ducking.hold_s * sample_rate / hop)

    gain_db = _smooth_gate(active, -ducking.depth_db, hop / sample_rate, ducking)
    curve_db = np.interp(np.arange(samples), ends - 1, gain_db)
    return 10.0 ** (curve_db / 20.0)


def _smooth_gate(
    active: np.ndarray, depth_db: float, period_s: float, ducking: Ducking
) -> np.ndarray:
    """One-pole smoothing of a two-level gain target, solved in closed form per constant run."""

    def pole(time_constant_s: float) -> float:
        return math.exp(-period_s / time_constant_s) if time_constant_s > 0.0 else 0.0

    attack, release = pole(ducking.attack_s), pole(ducking.release_s)
    gain_db = np.empty(len(active))
    bounds = [0, *(np.flatnonzero(np.diff(active)) + 1), len(active)]
    current = 0.0
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        target, coefficient = (depth_db, attack) if active[start] else (0.0, release)
        steps = np.arange(1, end - start + 1)
        gain_db[start:end] = target + (current - target) * coefficient**steps
        current = gain_db[end - 1]
    return gain_db


def _check_settings(settings: MixSettings) -> int:
    """Validate the output settings; return the output sample rate."""
    sample_rate = check_sample_rate(settings.sample_rate, "output sample_rate")
    if settings.channels not in OUTPUT_CHANNELS:
        raise ValueError(
            f"output channels must be 1 (mono) or 2 (stereo), got {settings.channels!r}"
        )
    if settings.duration_s is not None:
        _check_number(settings.duration_s, "output duration_s", 1.0 / sample_rate, math.inf)
    if settings.target_lufs is not None:
        check_level(settings.target_lufs, "target_lufs", LOUDNESS_RANGE_LUFS, "LUFS")
    check_level(settings.true_peak_dbtp, "true_peak_dbtp", CEILING_RANGE_DBTP, "dBTP")
    check_level(settings.max_limiting_db, "max_limiting_db", (0.0, MAX_LIMITING_DB), "dB")
    for name in ("fade_in_s", "fade_out_s"):
        _check_number(getattr(settings, name), f"master {name}", 0.0, math.inf)
    return sample_rate


def mix(
    layers: Sequence[Layer],
    settings: MixSettings | None = None,
    ducking: Ducking | None = None,
    keep_layers: bool = False,
) -> MixResult:
    """Mix ``layers`` into one float32 waveform [channels, samples] with a loudness report.

    The report holds ``measure``'s keys for the finished mix plus ``sample_rate``, ``channels``,
    ``target_lufs``, ``ceiling_dbtp``, ``gain_db`` (master gain), ``limiting_db`` (most peak
    reduction, 0 if none), ``target_reached`` (None without a target), ``note`` (why a target was
    missed, else empty) and ``layers`` (per layer: name, audible, start_s, end_s).
    ``keep_layers`` also returns each layer as placed in the mix (``MixResult.layer_waveforms``).
    Raises ValueError, naming the layer or setting, for bad audio (NaN/inf, empty, wrong shape),
    out-of-range gains, pans, times or levels.
    """
    settings = settings or MixSettings()
    sample_rate = _check_settings(settings)
    if not layers:
        raise ValueError("mix needs at least one layer")
    if ducking is not None:
        _check_ducking(ducking, len(layers))
    labels = [_label(layer, index) for index, layer in enumerate(layers)]
    rendered = [
        _render_layer(layer, label, sample_rate, settings.channels)
        for layer, label in zip(layers, labels, strict=True)
    ]
    if settings.duration_s is None:
        length = max(start + audio.shape[1] for start, audio in rendered)
    else:
        length = round(settings.duration_s * sample_rate)
    if length == 0:
        raise ValueError("the mix would have no samples: every layer is shorter than one sample")

    duck = None
    if ducking is not None:
        start, audio = rendered[ducking.key_index]
        key = np.zeros((audio.shape[0], length))
        _place(key, start, audio)
        duck = ducking_gain(key, sample_rate, ducking)

    any_solo = any(layer.solo for layer in layers)
    audible = [not layer.mute and (layer.solo or not any_solo) for layer in layers]
    bus = np.zeros((settings.channels, length))
    placed = []
    for index, (start, audio) in enumerate(rendered):
        is_key = ducking is not None and index == ducking.key_index
        if keep_layers:
            layer_bus = np.zeros_like(bus)
            _place(layer_bus, start, audio, None if is_key else duck)
            placed.append(torch.from_numpy(layer_bus).to(torch.float32))
            if audible[index]:
                bus += layer_bus
        elif audible[index]:
            _place(bus, start, audio, None if is_key else duck)
    _apply_fades(bus, sample_rate, settings.fade_in_s, settings.fade_out_s)

    waveform, report = _finish(bus, sample_rate, settings)
    report["layers"] = [
        {
            "name": label,
            "audible": audible[index],
            "start_s": start / sample_rate,
            "end_s": (start + audio.shape[1]) / sample_rate,
        }
        for index, (label, (start, audio)) in enumerate(zip(labels, rendered, strict=True))
    ]
    return MixResult(waveform, sample_rate, report, placed if keep_layers else None)


def _place(bus: np.ndarray, start: int, audio: np.ndarray, gain: np.ndarray | None = None) -> None:
    """Add ``audio`` into ``bus`` from sample ``start`` (times ``gain``), cut at the bus end."""
    end = min(bus.shape[1], start + audio.shape[1])
    if end <= start:
        return
    part = audio[:, : end - start]
    bus[:, start:end] += part if gain is None else part * gain[start:end]


def _finish(
    bus: np.ndarray, sample_rate: int, settings: MixSettings
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Apply the loudness gain under the ceiling; return the float32 mix and its report."""
    audio, info = normalize_loudness(
        bus, sample_rate, settings.target_lufs, settings.true_peak_dbtp, settings.max_limiting_db
    )
    waveform = torch.from_numpy(audio).to(torch.float32)
    report: dict[str, Any] = measure(waveform, sample_rate)
    report.update(
        sample_rate=sample_rate,
        channels=settings.channels,
        target_lufs=settings.target_lufs,
        ceiling_dbtp=settings.true_peak_dbtp,
        gain_db=info.gain_db,
        limiting_db=info.limiting_db,
        target_reached=info.target_reached,
        note=info.note,
    )
    return waveform, report


def format_report(report: dict[str, Any]) -> str:
    """One line for a preview: loudness, true peak, length, format, and any note."""
    channels = {1: "mono", 2: "stereo"}.get(report.get("channels"), "")
    text = (
        f"{report['integrated_lufs']:.1f} LUFS, true peak {report['true_peak_dbtp']:.1f} dBTP, "
        f"{report['duration_s']:.2f} s"
    )
    if "sample_rate" in report:
        text += f", {report['sample_rate'] / 1000:g} kHz {channels}".rstrip()
    if report.get("note"):
        text += f" ({report['note']})"
    return text
