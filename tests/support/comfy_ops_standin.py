"""A stand-in for ComfyUI's ``comfy.ops`` layer sets, for tests that run without ComfyUI.

It mirrors the structure and dispatch of ComfyUI 0.3.64's ``comfy/ops.py``: every layer is the
torch layer plus ``CastWeightBiasOp`` (class attributes ``comfy_cast_weights = False``,
``weight_function = []``, ``bias_function = []``), ``reset_parameters`` does nothing, and
``forward(*args, **kwargs)`` goes to ``forward_comfy_cast_weights`` when the flag is set or a
weight/bias function is attached, else to torch's forward. ``cast_bias_weight`` casts the weight
and bias to the input's dtype and device (the bias to the same dtype) and applies the functions.
``manual_cast`` is the same set with the flag on. ComfyUI's model patcher turns the flag on per
layer for the layers it leaves offloaded (partial "lowvram" loading).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cast_bias_weight(s, input=None, dtype=None, device=None):
    if input is not None:
        dtype = input.dtype if dtype is None else dtype
        device = input.device if device is None else device
    bias = None
    if s.bias is not None:
        bias = s.bias.to(device=device, dtype=dtype)
        for function in s.bias_function:
            bias = function(bias)
    weight = s.weight.to(device=device, dtype=dtype)
    for function in s.weight_function:
        weight = function(weight)
    return weight, bias


class CastWeightBiasOp:
    comfy_cast_weights = False
    weight_function = []
    bias_function = []


class _Dispatch:
    def forward(self, *args, **kwargs):
        if self.comfy_cast_weights or len(self.weight_function) > 0 or len(self.bias_function) > 0:
            return self.forward_comfy_cast_weights(*args, **kwargs)
        return super().forward(*args, **kwargs)

    def reset_parameters(self):
        return None


class disable_weight_init:  # noqa: N801 (ComfyUI's name)
    class Linear(_Dispatch, torch.nn.Linear, CastWeightBiasOp):
        def forward_comfy_cast_weights(self, input):
            weight, bias = cast_bias_weight(self, input)
            return F.linear(input, weight, bias)

    class Conv1d(_Dispatch, torch.nn.Conv1d, CastWeightBiasOp):
        def forward_comfy_cast_weights(self, input):
            weight, bias = cast_bias_weight(self, input)
            return self._conv_forward(input, weight, bias)

    class Conv2d(_Dispatch, torch.nn.Conv2d, CastWeightBiasOp):
        def forward_comfy_cast_weights(self, input):
            weight, bias = cast_bias_weight(self, input)
            return self._conv_forward(input, weight, bias)

    class ConvTranspose1d(_Dispatch, torch.nn.ConvTranspose1d, CastWeightBiasOp):
        def forward_comfy_cast_weights(self, input, output_size=None):
            output_padding = self._output_padding(
                input, output_size, self.stride, self.padding, self.kernel_size, 1, self.dilation
            )
            weight, bias = cast_bias_weight(self, input)
            return F.conv_transpose1d(
                input,
                weight,
                bias,
                self.stride,
                self.padding,
                output_padding,
                self.groups,
                self.dilation,
            )

    class LayerNorm(_Dispatch, torch.nn.LayerNorm, CastWeightBiasOp):
        def forward_comfy_cast_weights(self, input):
            weight, bias = (None, None)
            if self.weight is not None:
                weight, bias = cast_bias_weight(self, input)
            return F.layer_norm(input, self.normalized_shape, weight, bias, self.eps)

    class Embedding(_Dispatch, torch.nn.Embedding, CastWeightBiasOp):
        def reset_parameters(self):
            self.bias = None
            return None

        def forward_comfy_cast_weights(self, input, out_dtype=None):
            output_dtype = out_dtype
            if self.weight.dtype in (torch.float16, torch.bfloat16):
                out_dtype = None
            weight, _ = cast_bias_weight(self, device=input.device, dtype=out_dtype)
            return F.embedding(input, weight, self.padding_idx).to(dtype=output_dtype)


class manual_cast(disable_weight_init):  # noqa: N801 (ComfyUI's name)
    class Linear(disable_weight_init.Linear):
        comfy_cast_weights = True

    class Conv1d(disable_weight_init.Conv1d):
        comfy_cast_weights = True

    class Conv2d(disable_weight_init.Conv2d):
        comfy_cast_weights = True

    class ConvTranspose1d(disable_weight_init.ConvTranspose1d):
        comfy_cast_weights = True

    class LayerNorm(disable_weight_init.LayerNorm):
        comfy_cast_weights = True

    class Embedding(disable_weight_init.Embedding):
        comfy_cast_weights = True
