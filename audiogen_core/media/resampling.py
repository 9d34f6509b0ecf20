"""Sample-rate conversion and the waveform checks it shares with the loudness meter.

Kept apart from the mixer so that generation (which resamples audio given to the encoder)
imports only soxr and numpy, not the mixer's loudness stack (pyloudnorm, scipy).

Waveforms are float torch tensors or numpy arrays shaped [channels, samples] (or [samples] for
mono) with 1 or 2 channels; results come back as the kind, dtype, device and shape given.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import soxr
import torch

Waveform = TypeVar("Waveform", torch.Tensor, np.ndarray)

MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 768_000


def as_array(waveform: torch.Tensor | np.ndarray, name: str = "waveform") -> np.ndarray:
    """Validate a waveform and return it as a float64 numpy array shaped [channels, samples].

    A float64 input comes back without a copy (sharing its memory), so that metering long audio
    several ways holds one copy of it: never modify the result in place.
    Raises ValueError naming ``name`` for integer samples, a wrong shape, no samples, or NaN/inf.
    """
    if isinstance(waveform, torch.Tensor):
        if not waveform.is_floating_point():
            raise ValueError(f"{name}: samples must be floats in [-1, 1], got {waveform.dtype}")
        array = waveform.detach().to("cpu", torch.float64).numpy()
    elif isinstance(waveform, np.ndarray):
        if not np.issubdtype(waveform.dtype, np.floating):
            raise ValueError(
                f"{name}: samples must be floats in [-1, 1], got {waveform.dtype}; "
                "divide integer PCM by its full scale (32768 for int16) first"
            )
        array = np.asarray(waveform, dtype=np.float64)
    else:
        raise ValueError(f"{name}: expected a torch tensor or numpy array, got {type(waveform)}")
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[0] not in (1, 2):
        hint = " (for a ComfyUI AUDIO batch pass waveform[i])" if array.ndim == 3 else ""
        if array.ndim == 2 and array.shape[1] in (1, 2):
            hint = " (it looks like [samples, channels]: transpose it)"
        raise ValueError(
            f"{name}: expected [channels, samples] with 1 or 2 channels, "
            f"got shape {tuple(array.shape)}{hint}"
        )
    if array.shape[1] == 0:
        raise ValueError(f"{name}: has no samples")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: contains NaN or infinite samples; fix the source audio")
    return array


def check_sample_rate(sample_rate: float, name: str = "sample_rate") -> int:
    """Return ``sample_rate`` as an int, or raise ValueError if it is not a whole, sane rate."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float | np.number):
        raise ValueError(f"{name} must be a number of Hz, got {sample_rate!r}")
    if not math.isfinite(sample_rate) or sample_rate != int(sample_rate):
        raise ValueError(f"{name} must be a whole number of Hz, got {sample_rate!r}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"{name} must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz, got {sample_rate}"
        )
    return int(sample_rate)


def like(array: np.ndarray, template: Waveform) -> Waveform:
    """Return a [channels, samples] array as the kind, dtype, device and rank of ``template``."""
    if template.ndim == 1:
        array = array[0]
    if isinstance(template, torch.Tensor):
        return torch.from_numpy(np.ascontiguousarray(array)).to(template.device, template.dtype)
    return array.astype(template.dtype)


def resample(waveform: Waveform, from_sr: int, to_sr: int) -> Waveform:
    """Resample with python-soxr at very high quality, keeping the waveform's kind and shape.

    The output has ``round(samples * to_sr / from_sr)`` samples and no added delay; the response
    is flat within 0.01 dB up to 90 % of the lower Nyquist frequency (-0.1 dB at 93 %).
    """
    audio = as_array(waveform)
    from_sr, to_sr = check_sample_rate(from_sr, "from_sr"), check_sample_rate(to_sr, "to_sr")
    return like(resample_array(audio, from_sr, to_sr), waveform)


def resample_array(audio: np.ndarray, from_sr: int, to_sr: int) -> np.ndarray:
    """``resample`` for an already validated [channels, samples] array."""
    if from_sr == to_sr:
        return audio
    frames = soxr.resample(np.ascontiguousarray(audio.T), from_sr, to_sr, quality="VHQ")
    return np.ascontiguousarray(frames.T)
