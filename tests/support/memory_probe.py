"""Measuring memory on the CPU: the peak of a call (every tensor allocation, not the RSS), and
the bytes a model's weights take.

``torch.profiler`` with ``profile_memory`` records each allocation and free of PyTorch's CPU
allocator in time order; the running sum's maximum is the peak of tensor memory above what was
allocated before the call. Unlike the process RSS, it is not blurred by the allocator's caching
or by other threads, so a few MB of activations measure exactly.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torch.profiler import ProfilerActivity, profile


def peak_allocated_bytes(fn: Callable[[], object]) -> int:
    """Highest amount of tensor memory allocated on the CPU during ``fn()`` (beyond its start)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted(
        (event.start_ns(), event.nbytes())
        for event in prof.profiler.kineto_results.events()
        if event.name() == "[memory]"
    )
    assert events, "the profiler recorded no allocation"
    current = peak = 0
    for _, change in events:
        current += change
        peak = max(peak, current)
    return peak


def weight_bytes(module: nn.Module) -> int:
    """Bytes of every parameter and buffer of ``module`` (what ComfyUI calls the model size)."""
    tensors = {id(t): t for t in (*module.parameters(), *module.buffers())}
    return sum(t.numel() * t.element_size() for t in tensors.values())
