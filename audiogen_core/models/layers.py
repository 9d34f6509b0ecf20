"""Small building blocks shared by the generator and the audio tokenizer."""

from __future__ import annotations

import torch
from torch import Tensor


def periodic_hann(length: int, device: torch.device | str | None = None) -> Tensor:
    """Periodic Hann window in float32 (torch's and torchaudio's default window)."""
    return torch.hann_window(length, periodic=True, dtype=torch.float32, device=device)


def compute_device(buffer: Tensor) -> torch.device:
    """Where to recompute a derived buffer: its own device, or the CPU while it is on meta."""
    return torch.device("cpu") if buffer.is_meta else buffer.device
