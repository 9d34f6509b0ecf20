"""The encoded conditioning types (``conditioning/encoded.py``)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from golden_checks.generator import load_generator
from golden_io import first_case

from audiogen_core.conditioning.encoded import ConditioningTensors, condition


@pytest.fixture(scope="module")
def cond():
    case_c = first_case("case_c_")
    return condition(load_generator(case_c), case_c.inputs["t5_hidden"], case_c.inputs["t5_mask"])


def test_conditioning_helpers(cond):
    assert cond.global_duration_log.dtype == torch.float32
    assert cond.latent_lengths.dtype == torch.int64
    assert cond.context_mask.dtype == torch.bool
    assert cond.context.shape[1] == int(cond.context_mask.sum(dim=1).max())
    doubled = cond.expand(2)
    assert doubled.batch_size == 2 * cond.batch_size
    order = torch.arange(cond.batch_size).repeat_interleave(2)
    assert cond.time_aligned is None and doubled.time_aligned is None
    for field in dataclasses.fields(ConditioningTensors):
        if field.name not in ("time_aligned", "timed"):
            assert torch.equal(getattr(doubled, field.name), getattr(cond, field.name)[order])
    assert cond.to("cpu").context.device.type == "cpu"
    with pytest.raises(ValueError, match="repeats"):
        cond.expand(0)
