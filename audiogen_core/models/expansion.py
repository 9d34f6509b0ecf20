"""Room for weights expanded as a layer runs, and a fast exact float8_e4m3fn expansion.

Layers that keep their weights narrower than the compute dtype (fp8 storage, GGML blocks)
widen them on every call. On the CPU two things make that slow, and both are avoidable:

* A fresh buffer of tens of megabytes is handed back to the system after each call (glibc
  serves allocations past 32 MiB with their own memory map) and costs a page fault per 4 KiB
  the next time: more than the expansion itself. :func:`buffer` reuses one per dtype and thread.
* torch's CPU cast from float8_e4m3fn is not vectorised (about 10 ns per value).
  :func:`expand_float8` gives the same values with three integer passes and one multiply.
"""

from __future__ import annotations

import threading

import torch
from torch import Tensor

# e4m3fn bits -> bfloat16 bits: sign-extended int16 shifted left by 4 puts the sign at bit 15
# (and copies of it at 11-14, cleared by the mask), the 4 exponent bits at 7-10 and the 3
# mantissa bits at 4-6. The result is the value times 2**-120 (bfloat16's exponent bias is 127,
# e4m3's 7), subnormals included: a multiply by 2**120 restores it exactly.
_E4M3_MASK = -0x7810  # 0x87F0 as a signed int16
_E4M3_SCALE = 2.0**120
_SUBNORMAL = torch.tensor([2.0**-130])  # a float32 subnormal: zero if denormals are flushed


class _Scratch(threading.local):
    """Per-thread reusable CPU buffers, one per dtype, grown to the largest request."""

    def __init__(self) -> None:
        self.buffers: dict[torch.dtype, Tensor] = {}

    def take(self, numel: int, dtype: torch.dtype) -> Tensor:
        current = self.buffers.get(dtype)
        if current is None or current.numel() < numel:
            self.buffers.pop(dtype, None)  # free the old one before allocating the larger
            # An ordinary tensor even when first asked for under inference_mode: an inference
            # tensor could not be written to later outside it.
            with torch.inference_mode(False):
                current = torch.empty(numel, dtype=dtype)
            self.buffers[dtype] = current
        return current[:numel]


_scratch = _Scratch()


def buffer(numel: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """A flat tensor to expand a weight into, valid until the next call for the same dtype.

    Reused on the CPU, unless autograd may keep the expanded weight: then a later layer
    overwriting it would corrupt the saved tensor, so that case gets fresh memory.
    """
    if device.type == "cpu" and not torch.is_grad_enabled():
        return _scratch.take(numel, dtype)
    return torch.empty(numel, dtype=dtype, device=device)


def expand_float8(weight: Tensor, dtype: torch.dtype) -> Tensor | None:
    """``weight.to(dtype)`` for a float8_e4m3fn CPU tensor, bit for bit, about 5x faster.

    None where it does not apply (another dtype or device, or denormals flushed to zero, which
    would lose the float8 subnormals): the caller casts as usual then.
    """
    if (
        weight.dtype != torch.float8_e4m3fn
        or weight.device.type != "cpu"
        or dtype not in (torch.bfloat16, torch.float32, torch.float16)
        or not float(_SUBNORMAL * 1.0)
    ):
        return None
    bits = buffer(weight.numel(), torch.int16, weight.device)
    bits.copy_(weight.reshape(-1).view(torch.int8))
    bits.bitwise_left_shift_(4).bitwise_and_(_E4M3_MASK)
    values = bits.view(torch.bfloat16).mul_(_E4M3_SCALE)
    if dtype != torch.bfloat16:
        values = buffer(weight.numel(), dtype, weight.device).copy_(values)
    return values.view(weight.shape)
