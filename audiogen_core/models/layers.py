"""Small building blocks shared by the generator and the audio tokenizer."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def periodic_hann(length: int, device: torch.device | str | None = None) -> Tensor:
    """Periodic Hann window in float32 (torch's and torchaudio's default window)."""
    return torch.hann_window(length, periodic=True, dtype=torch.float32, device=device)


def initial_derived_buffer(compute: Callable[[torch.device], Tensor]) -> Tensor:
    """A derived buffer's value at construction: ``compute`` run on the CPU, the result placed
    on the device the module is built on.

    The loaders build models under ``torch.device("meta")``, where arithmetic runs torch's
    Python reference ops, and their first use imports torch._dynamo: over a second of every
    load, for values the loader recomputes anyway (``reset_derived_buffers``)."""
    return compute(torch.device("cpu")).to(torch.get_default_device())


def compute_device(buffer: Tensor) -> torch.device:
    """Where to recompute a derived buffer: its own device, or the CPU while it is on meta."""
    return torch.device("cpu") if buffer.is_meta else buffer.device
