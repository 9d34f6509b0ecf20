"""Linear layers whose weights stay in GGML's quantized block formats and are expanded per call.

GGUF files (audiogen.cpp's, ComfyUI-GGUF's) store big matrices in blocks of 32 values along
each row. Two formats are read here, laid out as ggml's ``block_q8_0`` and ``block_q4_0``:

* ``Q8_0``: 34 bytes per block, an fp16 scale ``d`` then 32 int8 values ``q``; value = ``d * q``.
* ``Q4_0``: 18 bytes per block, an fp16 scale ``d`` then 16 bytes of 4-bit values: byte ``j``
  holds element ``j`` in its low nibble and element ``j + 16`` in its high nibble;
  value = ``d * (nibble - 8)``.

A layer keeps the file's blocks as they are (a ``uint8`` parameter of shape
``(out_features, blocks_per_row * block_bytes)``) on whatever device the model manager puts it,
and expands them into the input's dtype on the input's device on every call, the way
``ops.CastOps`` expands fp8 weights. The expansion is a few vectorised passes over the weight
(unpacking, int -> compute dtype, times the block scales) into a reused buffer on the CPU
(see ``expansion``).

:func:`with_quantized_linear` adds this to any ``operations`` namespace (ours or ComfyUI's), so
partial loading and offloading keep working: a quantized layer is an ordinary module whose only
weight tensor is the block bytes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .expansion import buffer

BLOCK_VALUES = 32  # values per block in both formats


@dataclass(frozen=True)
class BlockFormat:
    """One of GGML's block formats: its name and the bytes one block of 32 values takes."""

    name: str
    block_bytes: int

    def row_bytes(self, row_values: int) -> int:
        """Bytes of one row of ``row_values`` values (a multiple of 32)."""
        return row_values // BLOCK_VALUES * self.block_bytes


Q8_0 = BlockFormat("Q8_0", 2 + BLOCK_VALUES)
Q4_0 = BlockFormat("Q4_0", 2 + BLOCK_VALUES // 2)
BLOCK_FORMATS = {fmt.name: fmt for fmt in (Q8_0, Q4_0)}


def dequantize(
    blocks: Tensor,
    fmt: BlockFormat,
    shape: tuple[int, ...],
    dtype: torch.dtype,
    out: Tensor | None = None,
) -> Tensor:
    """Values of ``shape`` (rows of a multiple of 32) in ``dtype`` from their GGML blocks.

    ``blocks`` is the raw bytes (any shape whose total is the blocks' size) on any device; the
    result is on the same device, written into ``out`` when given (a flat tensor of the right
    size and dtype).
    """
    numel = 1
    for size in shape:
        numel *= size
    grouped = blocks.reshape(-1, fmt.block_bytes)
    if grouped.shape[0] * BLOCK_VALUES != numel:
        raise ValueError(
            f"{blocks.numel()} bytes of {fmt.name} blocks do not hold a {list(shape)} tensor"
        )
    if out is None:
        out = torch.empty(numel, dtype=dtype, device=blocks.device)
    values = out.view(-1, BLOCK_VALUES)
    scale = grouped[:, :2].contiguous().view(torch.float16).to(dtype)
    payload = grouped[:, 2:]
    if fmt is Q8_0:
        values.copy_(payload.view(torch.int8))
    elif fmt is Q4_0:
        nibbles = buffer(numel, torch.uint8, blocks.device).view(-1, BLOCK_VALUES)
        torch.bitwise_and(payload, 15, out=nibbles[:, : BLOCK_VALUES // 2])
        torch.bitwise_right_shift(payload, 4, out=nibbles[:, BLOCK_VALUES // 2 :])
        signed = nibbles.view(torch.int8)
        signed.sub_(8)
        values.copy_(signed)
    else:
        raise ValueError(f"unsupported block format {fmt.name}")
    # One multiply in the compute dtype: exact in float32 (an 8-bit integer times an fp16
    # scale fits float32's 24-bit mantissa); in bfloat16 the scale is rounded to 8 bits first.
    values.mul_(scale)
    return out.view(shape)


def _cast(tensor: Tensor | None, like: Tensor) -> Tensor | None:
    return None if tensor is None else tensor.to(device=like.device, dtype=like.dtype)


class QuantizedLinearMixin:
    """What a Linear needs to hold GGML blocks: the format and logical shape of its weight.

    ``block_format`` is None while the weight is an ordinary tensor; the loader sets it (and
    replaces ``weight`` with the block bytes) through :func:`hold_blocks`.
    """

    block_format: BlockFormat | None = None
    block_shape: tuple[int, int] | None = None

    def expanded_weight(self, like: Tensor) -> Tensor:
        """The weight in ``like``'s dtype on ``like``'s device."""
        blocks = self.weight.to(like.device, non_blocking=True)
        numel = self.block_shape[0] * self.block_shape[1]
        out = buffer(numel, like.dtype, like.device)
        return dequantize(blocks, self.block_format, self.block_shape, like.dtype, out)


def hold_blocks(layer: nn.Module, blocks: Tensor, fmt: BlockFormat) -> None:
    """Make ``layer`` (a Linear of :func:`with_quantized_linear`) keep ``blocks`` as its weight.

    ``blocks`` is ``(out_features, in_features / 32 * block_bytes)`` bytes. The layer is
    flagged as casting its own weights, so code that reads weights directly calls it instead
    (see ``ops.casts_weights``) and ComfyUI treats it as a cast-on-the-fly layer.
    """
    shape = (layer.out_features, layer.in_features)
    expected = (shape[0], fmt.row_bytes(shape[1]))
    if not isinstance(layer, QuantizedLinearMixin) or shape[1] % BLOCK_VALUES:
        raise ValueError(f"{type(layer).__name__} {list(shape)} cannot hold {fmt.name} blocks")
    if tuple(blocks.shape) != expected or blocks.dtype != torch.uint8:
        raise ValueError(
            f"{fmt.name} blocks for a {list(shape)} weight must be uint8 {list(expected)}, "
            f"got {blocks.dtype} {list(blocks.shape)}"
        )
    layer.weight = nn.Parameter(blocks, requires_grad=False)
    layer.block_format = fmt
    layer.block_shape = shape
    layer.comfy_cast_weights = True


@functools.cache
def with_quantized_linear(operations):
    """``operations`` whose ``Linear`` also accepts GGML blocks as its weight (see above).

    Layers that never receive blocks behave exactly as ``operations.Linear``.
    """
    base = operations.Linear

    class Linear(QuantizedLinearMixin, base):
        def forward(self, x: Tensor) -> Tensor:
            if self.block_format is None:
                return super().forward(x)
            if getattr(self, "weight_function", None) or getattr(self, "bias_function", None):
                # ComfyUI's weight patches (LoRA and the like) apply to float weights.
                raise NotImplementedError(
                    "weight patches (LoRA) on GGUF-quantized layers are not supported; load "
                    "the safetensors or F16 weights to patch them"
                )
            return F.linear(x, self.expanded_weight(x), _cast(self.bias, x))

    name = getattr(operations, "__name__", "operations")
    Linear.__qualname__ = f"with_quantized_linear({name}).Linear"
    return type(f"{name}WithQuantizedLinear", (operations,), {"Linear": Linear})
