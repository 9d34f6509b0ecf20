"""Small building blocks shared by the generator and the audio tokenizer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Float32LayerNorm(nn.LayerNorm):
    """LayerNorm whose statistics are computed in float32 whatever the parameter dtype.

    In bfloat16 or float16 the mean and variance over a 1280-wide row lose too many digits; the
    result is cast back to the input dtype so the surrounding layers keep their precision.
    """

    def forward(self, x: Tensor) -> Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        out = F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps)
        return out.to(x.dtype)


def periodic_hann(length: int, device: torch.device | str | None = None) -> Tensor:
    """Periodic Hann window in float32 (torch's and torchaudio's default window)."""
    return torch.hann_window(length, periodic=True, dtype=torch.float32, device=device)


def compute_device(buffer: Tensor) -> torch.device:
    """Where to recompute a derived buffer: its own device, or the CPU while it is on meta."""
    return torch.device("cpu") if buffer.is_meta else buffer.device
