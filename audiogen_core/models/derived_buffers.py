"""Buffers that are computed from the config rather than learned.

The official checkpoints may or may not store them (RoPE inverse frequencies, Hann windows,
mel filterbanks). Modules keep them as persistent buffers so that their state dict matches the
official key list exactly, but the loader never trusts a stored copy: after the weights are in
place it asks every module that owns such buffers to recompute them.

A module opts in by defining ``reset_derived_buffers(self) -> None`` (recompute in float32 on
the device of the module's existing buffers) and listing the buffer names, relative to itself,
in ``DERIVED_BUFFERS``.
"""

from __future__ import annotations

from torch import nn


def derived_buffer_keys(model: nn.Module) -> set[str]:
    """Full state-dict keys of every derived buffer inside ``model``."""
    keys: set[str] = set()
    for prefix, module in model.named_modules():
        for name in getattr(module, "DERIVED_BUFFERS", ()):
            keys.add(f"{prefix}.{name}" if prefix else name)
    return keys


def reset_derived_buffers(model: nn.Module) -> None:
    """Recompute every derived buffer of ``model`` in place."""
    for module in model.modules():
        reset = getattr(module, "reset_derived_buffers", None)
        if reset is not None:
            reset()
