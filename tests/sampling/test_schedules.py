"""Tests of the schedules and the Euler loop: shapes and end points, the integer timesteps of
the default schedule, zero-step skipping, progress callbacks and cancellation."""

from __future__ import annotations

import pytest
import torch

from audiogen_core.sampling.schedules import (
    euler_sample,
    evaluated_steps,
    sigma_schedule,
    timesteps_from_sigmas,
)

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


def _naive_euler(velocity_fn, x, sigmas):
    for k, t in enumerate(timesteps_from_sigmas(sigmas)):
        x = x + (sigmas[k + 1] - sigmas[k]) * velocity_fn(x, t)
    return x


def _velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.sin(x * 3.0 + t / 100.0)


def test_skipping_the_zero_step_is_bitwise_identical():
    x = torch.randn(2, 3, 7, generator=torch.Generator().manual_seed(0))
    sigmas = sigma_schedule(5, -1.0)
    calls = []

    def counted(x, t):
        calls.append(float(t))
        return _velocity(x, t)

    assert torch.equal(euler_sample(counted, x, sigmas), _naive_euler(_velocity, x, sigmas))
    assert len(calls) == 5 and calls[-1] > 0.0  # the reference's 6th call (t = 0) is skipped


def test_callback_counts_evaluations_and_cancel_propagates():
    x = torch.zeros(1, 2, 3)
    progress = []
    euler_sample(_velocity, x, sigma_schedule(4, -1.0), lambda s, t: progress.append((s, t)))
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]

    class Cancelled(Exception):
        pass

    calls = []

    def cancel_at_two(step, total):
        if step == 2:
            raise Cancelled

    def counted(x, t):
        calls.append(t)
        return _velocity(x, t)

    with pytest.raises(Cancelled):
        euler_sample(counted, x, sigma_schedule(4, -1.0), cancel_at_two)
    assert len(calls) == 2


def test_update_runs_in_float32_whatever_the_velocity_dtype():
    x = torch.randn(1, 2, 3)
    out = euler_sample(
        lambda x, t: torch.ones_like(x, dtype=torch.bfloat16), x, sigma_schedule(3, 0.0)
    )
    assert out.dtype == torch.float32
    assert torch.allclose(out, x - 1.0)


def test_velocity_gets_the_float_timestep():
    seen = []
    euler_sample(
        lambda x, t: seen.append(t) or torch.zeros_like(x), torch.zeros(1), sigma_schedule(2, -1.0)
    )
    assert all(t.dim() == 0 and t.dtype == torch.float32 for t in seen)
    assert [float(t) for t in seen] == timesteps_from_sigmas(sigma_schedule(2, -1.0))[:2].tolist()
