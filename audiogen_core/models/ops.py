"""Layer classes the models are built from: the ``operations=`` namespace of ComfyUI's model code.

Every model constructor takes ``operations``, a namespace with ``Linear``, ``Conv1d``,
``Conv2d``, ``ConvTranspose1d``, ``LayerNorm`` and ``Embedding`` classes whose constructors
take torch's own arguments (``operations.Linear(in, out, bias=..., dtype=..., device=...)``).
Inside ComfyUI the loaders pass one of its ``comfy.ops`` sets (``disable_weight_init``,
``manual_cast``, ...), which lets ComfyUI load a model partially and cast its weights on the
fly; this module never imports ComfyUI. Two sets live here:

* :class:`PlainOps` (the default): torch's layers; weights must sit on the compute device in
  the compute dtype.
* :class:`CastOps`: weights stay where and how they are stored (e.g. float8 on the CPU) and
  every call casts them to the input's dtype and device, as ComfyUI's ``manual_cast`` does.
  This is what makes 8-bit weight storage work outside ComfyUI, on any device.

A layer "casts" when it has ComfyUI's ``comfy_cast_weights`` flag set (ComfyUI turns it on per
layer when it leaves that layer's weights offloaded) or weight/bias functions attached (ComfyUI's
low-VRAM patches); :func:`casts_weights` tells. Code that reads a layer's weight directly must
honour it.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .expansion import expand_float8

# Storage dtypes accepted for the big matrix weights ("weight_dtype"), by their option names.
WEIGHT_DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "fp8_e4m3fn": torch.float8_e4m3fn,
    "fp8_e5m2": torch.float8_e5m2,
}
FP8_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)
# What a user may choose for weight storage ("default": the compute dtype itself).
WEIGHT_DTYPE_CHOICES = ("default", "bf16", "fp16", "fp8_e4m3fn", "fp8_e5m2")
# Layer types whose ``weight`` is stored in the weight dtype; everything else (biases, norms,
# embeddings, learned vectors, buffers) stays in the compute dtype.
MATRIX_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.ConvTranspose1d,
)


class _Embedding(nn.Embedding):
    """torch's Embedding, not initialised on the meta device (where the loaders build models):
    ``normal_`` on meta runs torch's Python reference op, whose first use imports torch._dynamo,
    over a second of every load for values the checkpoint replaces."""

    def reset_parameters(self) -> None:
        if not self.weight.is_meta:
            super().reset_parameters()


class PlainOps:
    """torch's own layers (the default ``operations``)."""

    Linear = nn.Linear
    Conv1d = nn.Conv1d
    Conv2d = nn.Conv2d
    ConvTranspose1d = nn.ConvTranspose1d
    LayerNorm = nn.LayerNorm
    Embedding = _Embedding


def _cast(tensor: Tensor | None, like: Tensor) -> Tensor | None:
    if tensor is None:
        return None
    if like.device.type == "cpu":  # torch's own float8 cast is slow there
        expanded = expand_float8(tensor, like.dtype)
        if expanded is not None:
            return expanded
    return tensor.to(device=like.device, dtype=like.dtype)


class CastOps:
    """Layers that cast their stored weights to the input's dtype and device on every call."""

    class Linear(nn.Linear):
        comfy_cast_weights = True

        def forward(self, x: Tensor) -> Tensor:
            return F.linear(x, _cast(self.weight, x), _cast(self.bias, x))

    class Conv1d(nn.Conv1d):
        comfy_cast_weights = True

        def forward(self, x: Tensor) -> Tensor:
            return self._conv_forward(x, _cast(self.weight, x), _cast(self.bias, x))

    class Conv2d(nn.Conv2d):
        comfy_cast_weights = True

        def forward(self, x: Tensor) -> Tensor:
            return self._conv_forward(x, _cast(self.weight, x), _cast(self.bias, x))

    class ConvTranspose1d(nn.ConvTranspose1d):
        comfy_cast_weights = True

        def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
            output_padding = self._output_padding(
                x, output_size, self.stride, self.padding, self.kernel_size, 1, self.dilation
            )
            return F.conv_transpose1d(
                x,
                _cast(self.weight, x),
                _cast(self.bias, x),
                self.stride,
                self.padding,
                output_padding,
                self.groups,
                self.dilation,
            )

    class LayerNorm(nn.LayerNorm):
        comfy_cast_weights = True

        def forward(self, x: Tensor) -> Tensor:
            return F.layer_norm(
                x, self.normalized_shape, _cast(self.weight, x), _cast(self.bias, x), self.eps
            )

    class Embedding(nn.Embedding):
        """Looks rows up on the ids' device; the rows keep the table's dtype."""

        comfy_cast_weights = True

        def forward(self, ids: Tensor) -> Tensor:
            return F.embedding(
                ids,
                self.weight.to(ids.device),
                self.padding_idx,
                self.max_norm,
                self.norm_type,
                self.scale_grad_by_freq,
                self.sparse,
            )


def casts_weights(layer: nn.Module) -> bool:
    """Whether ``layer`` casts its weights itself (ComfyUI's flag, or patches attached)."""
    return bool(
        getattr(layer, "comfy_cast_weights", False)
        or getattr(layer, "weight_function", None)
        or getattr(layer, "bias_function", None)
    )


def resolve_operations(operations, dtype: torch.dtype, weight_dtype: torch.dtype | None):
    """The operations to build a model with, checked against its two dtypes.

    ``operations=None`` means torch's layers when the weights are stored in the compute dtype
    and :class:`CastOps` when they are not. Weights stored in another dtype than the compute
    dtype need layers that cast (``Linear.comfy_cast_weights``: ComfyUI's ``manual_cast`` and
    fp8 sets, or ``CastOps``); plain layers would fail on the first matrix product.
    """
    weight_dtype = dtype if weight_dtype is None else weight_dtype
    if dtype in FP8_DTYPES or not dtype.is_floating_point:
        raise ValueError(
            f"compute dtype {dtype} is not supported: compute in fp32, bf16 or fp16 and store "
            "the weights in 8 bits with weight_dtype instead"
        )
    if weight_dtype not in WEIGHT_DTYPES.values():
        raise ValueError(
            f"weight dtype {weight_dtype} is not supported: use one of "
            f"{', '.join(WEIGHT_DTYPES)} (or None for the compute dtype)"
        )
    if operations is None:
        return PlainOps if weight_dtype == dtype else CastOps
    if weight_dtype != dtype and not getattr(operations.Linear, "comfy_cast_weights", False):
        raise ValueError(
            f"weights stored in {weight_dtype} but computed in {dtype} need operations that "
            f"cast on the fly; {getattr(operations, '__name__', operations)} does not "
            "(use audiogen_core.ops.CastOps, or ComfyUI's comfy.ops.manual_cast)"
        )
    return operations


@functools.cache
def float32_layer_norm(operations) -> type[nn.LayerNorm]:
    """``operations.LayerNorm`` with its statistics computed in float32 whatever the dtype.

    In bfloat16 or float16 the mean and variance over a 1536-wide row lose too many digits; the
    result is cast back to the input dtype. The weights stay in the compute dtype: a layer that
    casts gets a float32 input and casts them to float32 itself (ComfyUI's ops do the same), one
    that does not gets them cast here, so both give bit-identical results.
    """

    class Float32LayerNorm(operations.LayerNorm):
        def forward(self, x: Tensor) -> Tensor:
            if casts_weights(self):
                out = super().forward(x.float())
            else:
                weight = None if self.weight is None else self.weight.float()
                bias = None if self.bias is None else self.bias.float()
                out = F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps)
            return out.to(x.dtype)

    Float32LayerNorm.__qualname__ = f"float32_layer_norm({operations.__name__})"
    return Float32LayerNorm


def storage_dtypes(
    model: nn.Module, dtype: torch.dtype, weight_dtype: torch.dtype | None = None
) -> dict[str, torch.dtype]:
    """State-dict key -> storage dtype of every floating-point tensor of ``model``.

    The ``weight`` of every Linear and convolution (built from any operations set: ComfyUI's
    and ours subclass torch's layers) is stored in ``weight_dtype``; everything else in
    ``dtype``. The rest is under 1% of every model's parameters (biases, norms, the DiT's and
    adapter's learned vectors, the instruction sequence, T5's relative position table) or is
    read a few rows at a time (T5's token embedding, 10% of the text encoder), and it is where
    8-bit rounding costs the most accuracy for the least memory.
    """
    weight_dtype = dtype if weight_dtype is None else weight_dtype
    matrix_weights = {
        f"{name}.weight" if name else "weight"
        for name, module in model.named_modules()
        if isinstance(module, MATRIX_LAYERS)
    }
    return {
        key: weight_dtype if key in matrix_weights else dtype
        for key, tensor in model.state_dict(keep_vars=True).items()
        if tensor.is_floating_point()
    }


def to_storage(tensor: Tensor, dtype: torch.dtype, key: str = "") -> Tensor:
    """``tensor`` converted to a storage dtype, refusing values the dtype cannot hold
    (see :func:`check_storage_range`)."""
    check_storage_range(tensor, dtype, key)
    return tensor.to(dtype)


def check_storage_range(tensor: Tensor, dtype: torch.dtype, key: str = "") -> None:
    """Raise ValueError if ``tensor`` holds values that ``dtype`` cannot store.

    float8_e4m3fn saturates at 448, float8_e5m2 and float16 overflow to inf past 57344 and
    65504; any of these would corrupt the weight silently, so such a tensor is an error that
    names the way out. A dtype with fp32's range or more (fp32 itself) is not scanned; every
    narrower one, bfloat16 included, is also scanned for NaN and infinite values, which mark a
    damaged checkpoint. The scan is one min/max reduction, without a temporary copy.
    """
    limit = torch.finfo(dtype).max
    if not tensor.numel() or limit >= torch.finfo(tensor.dtype).max:
        return
    low, high = (float(value) for value in torch.aminmax(tensor.detach()))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(
            f"weight {key or '(unnamed)'} holds NaN or infinite values: the checkpoint is "
            "damaged; download it again"
        )
    largest = max(-low, high)
    if not largest <= limit:
        raise ValueError(
            f"weight {key or '(unnamed)'} holds values up to {largest:g}, beyond the "
            f"{dtype} range (+-{limit:g}); store the weights in bf16 instead"
        )


def weight_dtype_from_name(name: str | torch.dtype | None) -> torch.dtype | None:
    """ "default" or None -> None (= the compute dtype); "bf16", "fp8_e4m3fn", ... -> dtype."""
    if name is None or isinstance(name, torch.dtype):
        return name
    key = name.strip().lower()
    if key == "default":
        return None
    if key not in WEIGHT_DTYPES:
        raise ValueError(f"unknown weight dtype {name!r}: use default, {', '.join(WEIGHT_DTYPES)}")
    return WEIGHT_DTYPES[key]


class ComputeDevice:
    """Mixin for a model's ``device``: where it computes, which a model manager may assign.

    ComfyUI's ModelPatcher assigns ``model.device`` when it loads or offloads the model it
    manages. With weights left partly offloaded and cast on the fly, that assignment is the only
    reliable answer, so it wins; unassigned, ``device`` is where the module's weights are.
    """

    _assigned_device: torch.device | None = None

    def _weights_device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def device(self) -> torch.device:
        return self._assigned_device or self._weights_device()

    @device.setter
    def device(self, value: torch.device | str | None) -> None:
        self._assigned_device = None if value is None else torch.device(value)
