"""Loudness and peak metering for finished audio: ITU-R BS.1770-4 / EBU R128.

Integrated loudness comes from pyloudnorm (BS.1770-4 K-weighting and gating); short-term loudness
(EBU Tech 3341, 3 s windows) uses the same K-weighting filters without gating. True peak follows
BS.1770-4 Annex 2: the signal is oversampled by a polyphase windowed-sinc FIR (scipy) to at least
four times its rate and at least 192 kHz, the rate ffmpeg's ebur128 meter uses, and the largest
magnitude of the oversampled and the original samples is reported.

Waveforms are float torch tensors or numpy arrays shaped [channels, samples] (or [samples] for
mono) with 1 or 2 channels. ``normalize`` returns the same kind, dtype, device and shape it was
given; ``measure`` returns plain Python floats.

Documented behaviours at the edges:
- Silence (or anything quieter than the -70 LUFS absolute gate) measures ``-inf`` LUFS, and
  ``normalize`` returns it unchanged.
- A clip shorter than one 400 ms gating block is measured as a single block spanning the clip,
  so a short sound effect reports the loudness it has while it plays.
- The true-peak ceiling always wins over the loudness target. By default normalisation is one
  static gain: when the target would push the true peak over the ceiling, the gain stops at the
  ceiling and the target is reported as not reached. With ``max_limiting_db`` > 0 a lookahead
  true-peak limiter may take up to that many dB off the loudest peaks so the target can be met;
  beyond that the gain stops short again. Nothing is ever clipped.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pyloudnorm
import scipy.fft
import torch
from scipy.ndimage import maximum_filter1d, uniform_filter1d
from scipy.signal import firwin, sosfilt

from .resampling import Waveform, as_array, check_sample_rate, like

log = logging.getLogger(__name__)

GATE_BLOCK_S = 0.4  # BS.1770-4 gating block
SHORT_TERM_WINDOW_S = 3.0  # EBU Tech 3341 short-term loudness
# Smallest and largest sensible loudness targets and true-peak ceilings; outside them a value is
# a typo (a positive LUFS target, a ceiling in linear units) rather than an intent.
LOUDNESS_RANGE_LUFS = (-70.0, 0.0)
CEILING_RANGE_DBTP = (-60.0, 0.0)

# Oversampled rate for true peak: BS.1770-4 asks for at least 4x at 48 kHz; lower rates get a
# higher factor so that inter-sample peaks of every rate are read as finely as at 48 kHz.
_TRUE_PEAK_MIN_FACTOR = 4
_TRUE_PEAK_RATE = 192_000
# The interpolation filter is long and sharp (cut-off at the original Nyquist frequency), so it
# reads inter-sample peaks as an ideal reconstruction would for everything but the top few
# percent of the band. Meters with short filters (BS.1770's 48-tap example, ffmpeg's) disagree
# with it, either way, by up to 0.2 dB on material with energy right up to Nyquist (noise,
# limited masters); the limiter leaves room for that (_LIMITER_MARGIN_DB).
_TRUE_PEAK_TAPS_PER_PHASE = 256
_TRUE_PEAK_KAISER_BETA = 14.0
_TRUE_PEAK_FFT_SIZE = 1 << 16  # filtering chunk (with its context); bounds memory on long mixes
# Headroom kept below the ceiling so float32 rounding of the output cannot land above it.
_CEILING_MARGIN_DB = 0.001
MAX_LIMITING_DB = 24.0
# Limiter timing: the gain starts falling 5 ms before a peak (an S-shaped ramp, soft enough not
# to click) and recovers with a 150 ms time constant, a common setting for speech and music.
_LIMITER_LOOKAHEAD_S = 0.005
_LIMITER_RELEASE_S = 0.15
# A limited master has many peaks right at the limiter's threshold, and meters with shorter
# interpolation filters than ours (ffmpeg's ebur128) read noise-like material up to 0.2 dB
# higher; the limiter therefore stops this far under the ceiling, a customary safety margin.
_LIMITER_MARGIN_DB = 0.3
_LIMITER_ROUNDS = 8  # loudness/limiter passes; three or four usually land within 0.05 LU
_LOUDNESS_TOLERANCE_LU = 0.05


def check_level(value: float, name: str, bounds: tuple[float, float], unit: str) -> float:
    """Return ``value`` as a float, or raise ValueError if it is not finite and within bounds."""
    low, high = bounds
    if not isinstance(value, int | float | np.number) or not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g} {unit}, got {value!r}")
    return float(value)


def to_db(amplitude: float) -> float:
    """Amplitude ratio to dB, with silence as -inf instead of a warning."""
    return 20.0 * math.log10(amplitude) if amplitude > 0.0 else -math.inf


def _integrated_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """BS.1770-4 integrated loudness of a validated [channels, samples] array."""
    samples = audio.shape[1]
    block = math.ceil(GATE_BLOCK_S * sample_rate)
    if samples >= block:
        return float(pyloudnorm.Meter(sample_rate).integrated_loudness(audio.T))
    # One gating block spanning the clip: pad with silence to a full block (the K-weighting
    # filters ring into the padding, which belongs to the clip), then scale the block's mean
    # square from the block length back to the clip length.
    padded = np.pad(audio, ((0, 0), (0, block - samples)))
    block_lufs = float(pyloudnorm.Meter(sample_rate).integrated_loudness(padded.T))
    return block_lufs + 10.0 * math.log10(block / samples)


def _k_weighted(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """K-weighted copy of a validated array, filtered by the stages pyloudnorm's meter uses."""
    # The meter keeps its filter stages in Meter._filters; taking them from there puts the
    # short-term curve on exactly the integrated meter's filters. One second-order-sections
    # pass over both stages is twice as fast as the meter's two lfilter passes.
    stages = pyloudnorm.Meter(sample_rate)._filters.values()
    sections = np.array([np.concatenate([stage.b, stage.a]) for stage in stages])
    gain = math.prod(stage.passband_gain for stage in stages)
    weighted = sosfilt(sections, audio, axis=1)
    weighted *= gain
    return weighted


def short_term_lufs(
    waveform: torch.Tensor | np.ndarray,
    sample_rate: int,
    centres_s: np.ndarray,
    window_s: float = SHORT_TERM_WINDOW_S,
) -> np.ndarray:
    """Ungated BS.1770-4 loudness in LUFS of windows ``window_s`` long centred at ``centres_s``.

    This is the EBU short-term loudness curve, with each reading placed at the middle of its
    window rather than at its end so that it lines up with the sound it measures. Windows are cut
    at the ends of the clip and measure the part they cover, so a steady sound reads the same
    everywhere and a clip shorter than the window reads its own loudness. A window of silence
    reads ``-inf``.
    """
    rate = check_sample_rate(sample_rate)
    audio = as_array(waveform)
    # Running energy, computed in place: energy[:, n] is the K-weighted energy of samples 0..n.
    energy = _k_weighted(audio, rate)
    np.square(energy, out=energy)
    np.cumsum(energy, axis=1, out=energy)
    half = 0.5 * window_s * rate
    centres = np.asarray(centres_s, dtype=np.float64) * rate
    starts = np.clip(np.round(centres - half), 0, audio.shape[1] - 1).astype(np.int64)
    ends = np.clip(np.round(centres + half), starts + 1, audio.shape[1]).astype(np.int64)
    # BS.1770 channel weights are 1 for left and right; the sum runs over channels.
    before = np.where(starts > 0, energy[:, starts - 1], 0.0)
    mean_square = ((energy[:, ends - 1] - before) / (ends - starts)).sum(axis=0)
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(np.maximum(mean_square, 0.0))


def _interpolator(factor: int) -> np.ndarray:
    """Windowed-sinc FIR that oversamples zero-stuffed audio by ``factor`` at unity gain."""
    taps = _TRUE_PEAK_TAPS_PER_PHASE * factor + 1
    return firwin(taps, 1.0 / factor, window=("kaiser", _TRUE_PEAK_KAISER_BETA)) * factor


def _peak_envelope(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """True-peak envelope [samples] of a validated array (linear, largest over channels).

    Entry n is the largest magnitude of sample n and of the oversampled points between samples
    n and n + 1. The audio is processed in chunks with enough context on both sides for the
    filter, so memory stays bounded on long mixes and the result does not depend on chunking.
    """
    factor = max(_TRUE_PEAK_MIN_FACTOR, math.ceil(_TRUE_PEAK_RATE / sample_rate))
    kernel = _interpolator(factor)
    centre = len(kernel) // 2
    channels, samples = audio.shape
    context = _TRUE_PEAK_TAPS_PER_PHASE // 2 + 1
    # Polyphase form of "zero-stuff by factor, then filter": oversampled point p of sample i
    # is the input convolved with every factor-th tap, starting at tap (p + centre) % factor,
    # read at i + shift[p]. One FFT of a chunk serves all phases; float32 is three times faster
    # than float64 and off by under 0.001 dB, far inside the margins.
    first_taps = [(phase + centre) % factor for phase in range(factor)]
    shifts = [(phase + centre - first) // factor for phase, first in enumerate(first_taps)]
    longest = max(len(kernel[first::factor]) for first in first_taps)
    size = _TRUE_PEAK_FFT_SIZE
    chunk = size - 2 * context - longest + 1  # no circular wrap-around reaches the outputs
    phases = np.stack(
        [scipy.fft.rfft(kernel[first::factor].astype(np.float32), size) for first in first_taps]
    )
    padded = np.zeros((channels, samples + 2 * context), np.float32)
    padded[:, context : context + samples] = audio
    envelope = np.empty(samples)
    for start in range(0, samples, chunk):
        end = min(samples, start + chunk)
        envelope[start:end] = np.abs(audio[:, start:end]).max(axis=0)
        spectrum = scipy.fft.rfft(padded[:, start : end + 2 * context], size, axis=1)
        convolved = scipy.fft.irfft(spectrum[:, None, :] * phases[None], size, axis=2)
        peaks = np.zeros(end - start, np.float32)
        for phase, shift in enumerate(shifts):
            window = convolved[:, phase, context + shift : context + shift + end - start]
            np.maximum(peaks, np.abs(window).max(axis=0), out=peaks)
        np.maximum(envelope[start:end], peaks, out=envelope[start:end])
    return envelope


def true_peak_envelope(waveform: torch.Tensor | np.ndarray, sample_rate: int) -> np.ndarray:
    """Linear true-peak envelope [samples]: the largest true peak over channels at each sample.

    Entry n covers sample n and the oversampled points up to sample n + 1 (BS.1770-4 Annex 2).
    """
    return _peak_envelope(as_array(waveform), check_sample_rate(sample_rate))


def true_peak_dbtp(waveform: torch.Tensor | np.ndarray, sample_rate: int) -> float:
    """True peak in dBTP (BS.1770-4 Annex 2); ``-inf`` for silence."""
    audio = as_array(waveform)
    return to_db(float(_peak_envelope(audio, check_sample_rate(sample_rate)).max()))


def measure(waveform: torch.Tensor | np.ndarray, sample_rate: int) -> dict[str, float]:
    """Loudness and peak report of a waveform shaped [channels, samples].

    Returns ``integrated_lufs`` (BS.1770-4 / EBU R128, ``-inf`` for silence),
    ``true_peak_dbtp``, ``sample_peak_dbfs`` and ``duration_s``.
    """
    rate = check_sample_rate(sample_rate)
    audio = as_array(waveform)
    return {
        "integrated_lufs": _integrated_lufs(audio, rate),
        "true_peak_dbtp": to_db(float(_peak_envelope(audio, rate).max())),
        "sample_peak_dbfs": to_db(float(np.abs(audio).max())),
        "duration_s": audio.shape[1] / rate,
    }


@dataclass(frozen=True)
class Normalization:
    """What loudness normalisation did.

    ``gain_db`` is the static gain, ``limiting_db`` the most the limiter took off any peak (0 when
    it did not act), ``target_reached`` None when there was no target, and ``note`` says in words
    why the target was missed or why the audio was turned down (else it is empty).
    """

    gain_db: float
    limiting_db: float
    target_reached: bool | None
    note: str


def _limiter_reduction(over_db: np.ndarray, sample_rate: int) -> np.ndarray:
    """Gain reduction in dB [samples] that takes every sample's peak down to the ceiling.

    ``over_db`` says how far each sample's true-peak envelope is over the ceiling. The result is
    never below it: each peak's reduction is held for half the lookahead on both sides, released
    exponentially, then smoothed by two moving averages that together span no more than the
    hold, so every average only sees values at least as large as the peak it must cover.
    """
    hold = max(2, round(0.5 * _LIMITER_LOOKAHEAD_S * sample_rate))
    held = maximum_filter1d(np.maximum(over_db, 0.0), 2 * hold + 1, mode="nearest")
    # Release y[n] = max(held[n], y[n - 1] * exp(-1 / tau)) is a running maximum in the log
    # domain: log y[n] = max over k <= n of (log held[k] - (n - k) / tau).
    steps = np.arange(len(held)) / (_LIMITER_RELEASE_S * sample_rate)
    with np.errstate(divide="ignore"):
        released = np.exp(np.maximum.accumulate(np.log(held) + steps) - steps)
    for _ in range(2):
        released = uniform_filter1d(released, 2 * (hold // 2) + 1, mode="nearest")
    return released


def _limit_to_target(
    audio: np.ndarray,
    sample_rate: int,
    envelope: np.ndarray,
    target_lufs: float,
    ceiling_dbtp: float,
    max_limiting_db: float,
) -> tuple[np.ndarray, float, float, float]:
    """Gain plus limiting towards the target; returns (audio, gain_db, limiting_db, loudness).

    Limiting lowers the loudness, so the gain is corrected (secant steps) and the limiter re-run
    until the loudness lands within 0.05 LU of the target or the limiting budget is spent.
    """
    threshold = ceiling_dbtp - _LIMITER_MARGIN_DB
    with np.errstate(divide="ignore"):
        envelope_db = 20.0 * np.log10(envelope)
    most = threshold - float(envelope_db.max()) + max_limiting_db

    def render(gain_db: float) -> tuple[np.ndarray, float, float]:
        reduction = _limiter_reduction(envelope_db + gain_db - threshold, sample_rate)
        limited = audio * 10.0 ** ((gain_db - reduction) / 20.0)
        return limited, float(reduction.max()), _integrated_lufs(limited, sample_rate)

    gain = min(target_lufs - _integrated_lufs(audio, sample_rate), most)
    limited, limiting, loudness = render(gain)
    slope = 1.0  # loudness gained per dB of gain; below 1 once the limiter works harder
    for _ in range(_LIMITER_ROUNDS - 1):
        miss = target_lufs - loudness
        if abs(miss) <= _LOUDNESS_TOLERANCE_LU or (miss > 0.0 and gain >= most):
            break
        previous_gain, previous_loudness = gain, loudness
        gain = min(most, gain + miss / slope)
        limited, limiting, loudness = render(gain)
        if gain != previous_gain:  # secant update, kept in a range that cannot run away
            slope = min(1.0, max(0.1, (loudness - previous_loudness) / (gain - previous_gain)))
    # The limiter keeps every sample's envelope under the ceiling, but the moving gain itself
    # can nudge an inter-sample peak by a hundredth of a dB: re-measure and trim what is over.
    over = to_db(float(_peak_envelope(limited, sample_rate).max())) - threshold
    if over > 0.0:
        limited *= 10.0 ** (-over / 20.0)
        gain, loudness = gain - over, loudness - over
    return limited, gain, limiting, loudness


def normalize_loudness(
    audio: np.ndarray,
    sample_rate: int,
    target_lufs: float | None,
    true_peak_dbtp: float,
    max_limiting_db: float = 0.0,
) -> tuple[np.ndarray, Normalization]:
    """Bring a [channels, samples] float64 array to ``target_lufs`` under the true-peak ceiling.

    With ``target_lufs`` None only the ceiling applies: audio peaking above it is turned down.
    See the module notes for silence and for the limiter (``max_limiting_db``).
    """
    if target_lufs is not None:
        check_level(target_lufs, "target_lufs", LOUDNESS_RANGE_LUFS, "LUFS")
    check_level(true_peak_dbtp, "true_peak_dbtp", CEILING_RANGE_DBTP, "dBTP")
    check_level(max_limiting_db, "max_limiting_db", (0.0, MAX_LIMITING_DB), "dB")
    ceiling = true_peak_dbtp - _CEILING_MARGIN_DB
    envelope = _peak_envelope(audio, sample_rate)
    headroom = ceiling - to_db(float(envelope.max()))
    if target_lufs is None:
        gain = min(0.0, headroom)
        note = f"turned down {-gain:.1f} dB to stay under {true_peak_dbtp:g} dBTP" if gain else ""
        return audio * 10.0 ** (gain / 20.0), Normalization(gain, 0.0, None, note)

    loudness = _integrated_lufs(audio, sample_rate)
    if loudness == -math.inf:
        note = "too quiet to measure (below -70 LUFS): left unchanged"
        return audio.copy(), Normalization(0.0, 0.0, False, note)
    if target_lufs - loudness <= headroom:
        gain = target_lufs - loudness
        return audio * 10.0 ** (gain / 20.0), Normalization(gain, 0.0, True, "")
    if max_limiting_db == 0.0:
        note = (
            f"target {target_lufs:g} LUFS not reached: without limiting, the "
            f"{true_peak_dbtp:g} dBTP ceiling allows {loudness + headroom:.1f} LUFS"
        )
        return audio * 10.0 ** (headroom / 20.0), Normalization(headroom, 0.0, False, note)

    limited, gain, limiting, reached = _limit_to_target(
        audio, sample_rate, envelope, target_lufs, ceiling, max_limiting_db
    )
    if reached >= target_lufs - 2 * _LOUDNESS_TOLERANCE_LU:
        return limited, Normalization(gain, limiting, True, "")
    note = (
        f"target {target_lufs:g} LUFS not reached: {max_limiting_db:g} dB of limiting under the "
        f"{true_peak_dbtp:g} dBTP ceiling allows {reached:.1f} LUFS"
    )
    return limited, Normalization(gain, limiting, False, note)


def normalize(
    waveform: Waveform,
    sample_rate: int,
    target_lufs: float = -16.0,
    true_peak_dbtp: float = -1.0,
    max_limiting_db: float = 0.0,
) -> Waveform:
    """Return ``waveform`` at ``target_lufs`` integrated loudness, its true peak under the ceiling.

    By default a single static gain: if the target needs more gain than the true-peak ceiling
    allows, the gain stops at the ceiling and a warning is logged. ``max_limiting_db`` > 0 lets a
    lookahead true-peak limiter take up to that many dB off the loudest peaks to reach the target.
    Silence comes back unchanged. The result has the input's kind, dtype, device and shape.
    """
    audio = as_array(waveform)
    result, info = normalize_loudness(
        audio, check_sample_rate(sample_rate), target_lufs, true_peak_dbtp, max_limiting_db
    )
    if info.target_reached is False:
        log.warning("normalize: %s", info.note)
    return like(result, waveform)
