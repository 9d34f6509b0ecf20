"""Spectral front-ends of the tokenizer's encoder, matching torchaudio's numerics in plain torch.

The official encoder uses ``torchaudio.transforms.MelSpectrogram`` (centred STFT with reflect
padding, periodic Hann window, HTK mel filterbank without normalisation) and ``AmplitudeToDB``.
torchaudio is not a run-time dependency here, so the same operations are written out in the same
order: that keeps the golden encode fixtures within float32 rounding noise. Everything in this
file runs in float32 regardless of the model's dtype (a bfloat16 power spectrum would be useless)
and the window and filterbank are recomputed from the config, never trusted from a checkpoint.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..layers import compute_device, initial_derived_buffer, periodic_hann


def _hz_to_mel(freq: float) -> float:
    return 2595.0 * math.log10(1.0 + freq / 700.0)


def htk_mel_filterbank(
    n_freqs: int,
    n_mels: int,
    sample_rate: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Triangular HTK mel filterbank (n_freqs, n_mels) in float32, unnormalised.

    Same float32 operations as torchaudio's ``melscale_fbanks(norm=None, mel_scale="htk")``: the
    band edges are spaced linearly in mel between f_min and f_max, and every FFT bin gets the
    smaller of the rising and falling slope of each triangle, floored at zero.
    """
    f_max = float(sample_rate // 2) if f_max is None else f_max
    kwargs = {"dtype": torch.float32, "device": device}
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs, **kwargs)
    mel_points = torch.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2, **kwargs)
    f_pts = 700.0 * (10.0 ** (mel_points / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down_slopes = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up_slopes = slopes[:, 2:] / f_diff[1:]
    return torch.clamp(torch.minimum(down_slopes, up_slopes), min=0.0)


class Spectrogram(nn.Module):
    """Centred, reflect-padded STFT magnitude (power 1) or power (power 2) spectrogram."""

    DERIVED_BUFFERS = ("window",)

    def __init__(self, n_fft: int, hop_length: int, power: float) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.power = power
        self.register_buffer(
            "window", initial_derived_buffer(lambda device: periodic_hann(n_fft, device))
        )

    def reset_derived_buffers(self) -> None:
        self.window = periodic_hann(self.n_fft, compute_device(self.window))

    def forward(self, waveform: Tensor) -> Tensor:
        """(B, N) -> (B, n_fft // 2 + 1, 1 + N // hop_length), float32."""
        spec = torch.stft(
            waveform.float(),
            self.n_fft,
            hop_length=self.hop_length,
            win_length=self.n_fft,
            window=self.window.to(device=waveform.device, dtype=torch.float32),
            center=True,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        magnitude = spec.abs()
        return magnitude if self.power == 1.0 else magnitude.pow(self.power)


class MelScale(nn.Module):
    """Projects a linear-frequency spectrogram onto an HTK mel filterbank."""

    DERIVED_BUFFERS = ("fb",)

    def __init__(self, n_freqs: int, n_mels: int, sample_rate: int) -> None:
        super().__init__()
        self.n_freqs = n_freqs
        self.n_mels = n_mels
        self.sample_rate = sample_rate
        self.register_buffer(
            "fb",
            initial_derived_buffer(
                lambda device: htk_mel_filterbank(n_freqs, n_mels, sample_rate, device=device)
            ),
        )

    def reset_derived_buffers(self) -> None:
        self.fb = htk_mel_filterbank(
            self.n_freqs, self.n_mels, self.sample_rate, device=compute_device(self.fb)
        )

    def forward(self, spec: Tensor) -> Tensor:
        """(B, n_freqs, frames) -> (B, n_mels, frames)."""
        fb = self.fb.to(device=spec.device, dtype=torch.float32)
        return torch.matmul(spec.transpose(-1, -2), fb).transpose(-1, -2)


class MelSpectrogram(nn.Module):
    """STFT then mel projection, with torchaudio's submodule names (``spectrogram``,
    ``mel_scale``) so the buffers carry the official checkpoint keys."""

    def __init__(
        self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int, power: float
    ) -> None:
        super().__init__()
        self.spectrogram = Spectrogram(n_fft, hop_length, power)
        self.mel_scale = MelScale(n_fft // 2 + 1, n_mels, sample_rate)

    def forward(self, waveform: Tensor) -> Tensor:
        """(B, N) -> (B, n_mels, 1 + N // hop_length), float32."""
        return self.mel_scale(self.spectrogram(waveform))


class AmplitudeToDB(nn.Module):
    """Power to decibels with a floor ``top_db`` below the maximum.

    The maximum is taken over the whole input tensor, batch included: torchaudio folds a 3-D
    (B, mels, frames) input into one "channel" group, and the official encoder inherits that, so
    a quiet clip encoded next to a loud one gets a different floor than when encoded alone.
    """

    def __init__(self, top_db: float, amin: float = 1e-10) -> None:
        super().__init__()
        self.top_db = top_db
        self.amin = amin

    def forward(self, power: Tensor) -> Tensor:
        db = 10.0 * torch.log10(torch.clamp(power, min=self.amin))
        return torch.maximum(db, db.amax() - self.top_db)


class LogMelSpectrogram(nn.Module):
    """Natural-log magnitude mel spectrogram of the acoustic branch (floor 1e-7)."""

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int) -> None:
        super().__init__()
        self.mel_spec = MelSpectrogram(sample_rate, n_fft, hop_length, n_mels, power=1.0)

    def forward(self, waveform: Tensor) -> Tensor:
        """(B, N) -> (B, n_mels, 1 + N // hop_length), float32."""
        return torch.log(torch.clamp(self.mel_spec(waveform), min=1e-7))
