"""Tests of the sigma schedules: shapes and end points, the integer timesteps of the default
schedule, the linear schedule and bad step counts."""

from __future__ import annotations

import pytest
import torch

from audiogen_core.sampling.schedules import evaluated_steps, sigma_schedule, timesteps_from_sigmas

DEFAULT_INTEGER_TIMESTEPS = [
    1000,
    998,
    992,
    982,
    968,
    951,
    929,
    904,
    876,
    844,
    809,
    770,
    728,
    684,
    637,
    587,
    535,
    481,
    425,
    368,
    309,
    248,
    187,
    125,
    62,
    0,
]


def test_default_schedule_integer_timesteps():
    timesteps = timesteps_from_sigmas(sigma_schedule(25, -1.0))
    assert timesteps.dtype == torch.float32
    assert timesteps.long().tolist() == DEFAULT_INTEGER_TIMESTEPS


@pytest.mark.parametrize("steps", [1, 4, 25])
def test_sway_schedule_ends_with_two_zeros(steps):
    sigmas = sigma_schedule(steps, -0.5)
    assert sigmas.dtype == torch.float32 and sigmas.shape == (steps + 2,)
    assert sigmas[0] == 1.0 and sigmas[-2] == 0.0 and sigmas[-1] == 0.0
    assert evaluated_steps(sigmas) == list(range(steps))


@pytest.mark.parametrize("steps", [1, 3, 10])
def test_zero_coefficient_selects_linear_sigmas(steps):
    sigmas = sigma_schedule(steps, 0.0)
    assert sigmas.shape == (steps + 1,)
    assert sigmas[-2] == torch.tensor(1.0 / steps) and sigmas[-1] == 0.0
    assert torch.allclose(sigmas[:-1], torch.linspace(1.0, 1.0 / steps, steps))
    assert evaluated_steps(sigmas) == list(range(steps))


@pytest.mark.parametrize("steps", [0, -1])
def test_no_steps_is_an_error(steps):
    with pytest.raises(ValueError, match="steps"):
        sigma_schedule(steps, -1.0)
