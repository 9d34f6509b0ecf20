"""Weights widened as a layer runs: the float8 expansion and the reused buffers."""

from __future__ import annotations

import pytest
import torch

from audiogen_core.models.expansion import buffer, expand_float8
from audiogen_core.models.ops import CastOps

# Every float8_e4m3fn code but the two NaNs (0x7F, 0xFF), which no stored weight holds.
CODES = torch.tensor([c for c in range(256) if c & 0x7F != 0x7F], dtype=torch.uint8)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float16])
def test_every_float8_code_expands_to_torchs_value(dtype):
    weights = CODES.view(torch.float8_e4m3fn).reshape(2, -1)
    with torch.no_grad():
        got = expand_float8(weights, dtype)
    assert got.dtype == dtype and got.shape == weights.shape
    assert torch.equal(got, weights.to(dtype))  # subnormals and signed zeros included
    assert torch.equal(torch.signbit(got), torch.signbit(weights.to(dtype)))


def test_expansion_steps_aside_where_it_would_be_wrong():
    e5m2 = torch.zeros(4, dtype=torch.float8_e5m2)
    assert expand_float8(e5m2, torch.bfloat16) is None
    assert expand_float8(torch.zeros(4), torch.bfloat16) is None
    weights = CODES.view(torch.float8_e4m3fn)
    torch.set_flush_denormal(True)
    try:
        if torch.tensor([2.0**-130]).mul(1.0).item() == 0:  # flushing took effect here
            assert expand_float8(weights, torch.bfloat16) is None
    finally:
        torch.set_flush_denormal(False)


def test_cast_layer_gives_the_plain_cast_result():
    layer = CastOps.Linear(64, 32)
    layer.weight.data = (torch.randn(32, 64) * 0.05).to(torch.float8_e4m3fn)
    x = torch.randn(3, 64, dtype=torch.bfloat16)
    expected = torch.nn.functional.linear(
        x, layer.weight.to(torch.bfloat16), layer.bias.to(torch.bfloat16)
    )
    with torch.no_grad():
        assert torch.equal(layer(x), expected)


def test_buffers_are_reused_without_grad_and_fresh_with_it():
    with torch.no_grad():
        first = buffer(100, torch.float32, torch.device("cpu"))
        second = buffer(50, torch.float32, torch.device("cpu"))
    assert second.data_ptr() == first.data_ptr()
    with torch.enable_grad():
        third = buffer(50, torch.float32, torch.device("cpu"))
    assert third.data_ptr() != first.data_ptr()
    with torch.inference_mode():
        made_inside = buffer(10_000, torch.float32, torch.device("cpu"))
    made_inside.fill_(1.0)  # an ordinary tensor: writable outside inference mode too
