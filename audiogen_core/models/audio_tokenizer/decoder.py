"""Decoder of the audio tokenizer: a Vocos network that turns frames into a waveform.

``VocosDecoder`` = ConvNeXt backbone (``decoder.backbone.*``) + ISTFT head (``decoder.head.*``).
The head predicts log-magnitude and phase for every STFT bin; the inverse STFT uses "same"
padding, which torch.istft cannot express, so it is written out (irfft, windowed overlap-add,
division by the summed squared window). The head's exp/clip and the ISTFT always run in
float32; the waveform comes out in float32.

Shapes: b = batch, c = channels, t = frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import compute_device, initial_derived_buffer, periodic_hann
from ..ops import PlainOps, float32_layer_norm

# Magnitudes are clipped at 100 after exp: the official safeguard against exploding frames.
MAX_MAGNITUDE = 100.0


class ConvNeXtBlock(nn.Module):
    """Depthwise conv k=7, LayerNorm, pointwise MLP with exact GELU, per-channel layer scale."""

    def __init__(self, dim: int, intermediate_dim: int, operations=PlainOps) -> None:
        super().__init__()
        self.dwconv = operations.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = float32_layer_norm(operations)(dim, eps=1e-6)
        self.pwconv1 = operations.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = operations.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, T) -> (B, C, T)."""
        y = self.norm(self.dwconv(x).transpose(1, 2))
        # Cast on use: a model manager may leave this raw parameter on the offload device.
        gamma = self.gamma.to(device=y.device, dtype=y.dtype)
        y = gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.transpose(1, 2)


class VocosBackbone(nn.Module):
    def __init__(
        self,
        input_channels: int,
        dim: int,
        intermediate_dim: int,
        num_layers: int,
        operations=PlainOps,
    ) -> None:
        super().__init__()
        LayerNorm = float32_layer_norm(operations)
        self.embed = operations.Conv1d(input_channels, dim, kernel_size=7, padding=3)
        self.norm = LayerNorm(dim, eps=1e-6)
        self.convnext = nn.ModuleList(
            ConvNeXtBlock(dim, intermediate_dim, operations) for _ in range(num_layers)
        )
        self.final_layer_norm = LayerNorm(dim, eps=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        """(B, input_channels, T) -> (B, T, dim)."""
        x = self.norm(self.embed(x).transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x.transpose(1, 2))


def _overlap_add(frames: Tensor, hop: int) -> Tensor:
    """Sum frames (B, win, T) shifted by ``hop`` each: (B, (T - 1) * hop + win)."""
    win, count = frames.shape[-2], frames.shape[-1]
    length = (count - 1) * hop + win
    out = F.fold(frames, output_size=(1, length), kernel_size=(1, win), stride=(1, hop))
    return out.reshape(frames.shape[0], length)


class ISTFT(nn.Module):
    """Inverse STFT with "same" padding: T frames give T * hop samples."""

    DERIVED_BUFFERS = ("window",)

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        if 2 * hop_length > n_fft or (n_fft - hop_length) % 2:
            raise ValueError(
                f"ISTFT needs hop <= n_fft / 2 and an even n_fft - hop; got n_fft="
                f"{n_fft}, hop={hop_length}. Check istft_n_fft / istft_hop."
            )
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.register_buffer(
            "window", initial_derived_buffer(lambda device: periodic_hann(n_fft, device))
        )

    def reset_derived_buffers(self) -> None:
        self.window = periodic_hann(self.n_fft, compute_device(self.window))

    def forward(self, spec: Tensor) -> Tensor:
        """Complex spectrum (B, n_fft // 2 + 1, T) -> float32 waveform (B, T * hop)."""
        window = self.window.to(device=spec.device, dtype=torch.float32)
        frames = torch.fft.irfft(spec, self.n_fft, dim=1, norm="backward") * window[:, None]
        signal = _overlap_add(frames, self.hop_length)
        envelope = _overlap_add(
            window.square()[None, :, None].expand(1, -1, spec.shape[-1]), self.hop_length
        )
        pad = (self.n_fft - self.hop_length) // 2
        end = signal.shape[-1] - pad
        # With hop <= n_fft / 2 every kept sample is covered by a Hann window away from its
        # zeros, so the envelope is bounded away from zero.
        return signal[:, pad:end] / envelope[:, pad:end]


class ISTFTHead(nn.Module):
    """Linear layer to (log-magnitude, phase) per bin, then the inverse STFT."""

    def __init__(self, dim: int, n_fft: int, hop_length: int, operations=PlainOps) -> None:
        super().__init__()
        self.out = operations.Linear(dim, n_fft + 2)
        self.istft = ISTFT(n_fft, hop_length)

    def spectrum(self, x: Tensor) -> Tensor:
        """Linear output (B, T, n_fft + 2) -> complex64 spectrum (B, n_fft // 2 + 1, T)."""
        log_magnitude, phase = x.float().transpose(1, 2).chunk(2, dim=1)
        magnitude = torch.clamp(torch.exp(log_magnitude), max=MAX_MAGNITUDE)
        return torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))

    def forward(self, x: Tensor) -> Tensor:
        """Backbone output (B, T, dim) -> float32 waveform (B, T * hop)."""
        return self.istft(self.spectrum(self.out(x)))


class VocosDecoder(nn.Module):
    def __init__(
        self,
        input_channels: int,
        dim: int,
        intermediate_dim: int,
        num_layers: int,
        n_fft: int,
        hop_length: int,
        operations=PlainOps,
    ) -> None:
        super().__init__()
        self.backbone = VocosBackbone(input_channels, dim, intermediate_dim, num_layers, operations)
        self.head = ISTFTHead(dim, n_fft, hop_length, operations)

    def forward(self, x: Tensor) -> Tensor:
        """Channels-first frames (B, input_channels, T) -> float32 waveform (B, T * hop)."""
        return self.head(self.backbone(x))
