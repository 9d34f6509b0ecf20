"""Tests of the Euler loop: zero-step skipping, progress callbacks and cancellation, float32
updates and the float timestep the velocity gets."""

from __future__ import annotations

import pytest
import torch

from audiogen_core.sampling.euler import euler_sample
from audiogen_core.sampling.schedules import sigma_schedule, timesteps_from_sigmas


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
