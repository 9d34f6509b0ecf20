"""Filling a model built on the meta device from a checkpoint, strictly.

Every key and shape is checked before a byte of tensor data is read; missing, unexpected and
mis-shaped keys are all named in one error. Derived buffers (``models/derived_buffers.py``)
are recomputed rather than trusted, so their presence in the file is optional.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from ..models.derived_buffers import derived_buffer_keys, reset_derived_buffers
from .errors import WeightsError


class TensorSource(Protocol):
    """What the filler needs from a checkpoint reader (safetensors.SafetensorsCheckpoint)."""

    def keys(self) -> Iterable[str]: ...
    def shape(self, key: str) -> tuple[int, ...]: ...
    def is_floating(self, key: str) -> bool: ...
    def read(
        self, wanted: Mapping[str, torch.dtype | None], device: torch.device
    ) -> dict[str, torch.Tensor]: ...


def build_on_meta(factory: Callable[[], nn.Module], folder: Path | None = None) -> nn.Module:
    """Build a module without allocating its (random) weights.

    A config the module refuses (a ValueError from its constructor) is a WeightsError naming
    the folder's config.json.
    """
    with torch.device("meta"):
        try:
            return factory()
        except ValueError as exc:
            if folder is None:
                raise
            raise WeightsError(f"{Path(folder) / 'config.json'}: {exc}") from exc


def optional_keys(model: nn.Module) -> set[str]:
    """Keys a checkpoint may lack: derived buffers (recomputed) and zero-size placeholders."""
    empty = {k for k, v in model.state_dict(keep_vars=True).items() if v.numel() == 0}
    return derived_buffer_keys(model) | empty


def fill_model(
    model: nn.Module,
    source: TensorSource,
    device: torch.device,
    dtypes: Mapping[str, torch.dtype],
    ignored_prefixes: tuple[str, ...] = (),
    name: str = "",
) -> nn.Module:
    """Fill a meta-device ``model`` from ``source``, checking every key and shape.

    Floating-point tensors are stored in ``dtypes[key]``; integer buffers keep their type.
    Raises WeightsError naming missing, unexpected and mis-shaped keys (``name`` says where
    the weights came from).
    """
    expected = model.state_dict(keep_vars=True)
    file_key_for = _file_keys(model, source, expected)
    _check_fit(model, source, expected, file_key_for, ignored_prefixes, name)
    state = source.read({file_key_for[key]: dtypes.get(key) for key in file_key_for}, device)
    state = {key: state[file_key] for key, file_key in file_key_for.items()}
    for key, target in expected.items():
        if key not in state:  # optional: a placeholder that reset_derived_buffers() overwrites
            storage = dtypes.get(key, target.dtype) if target.is_floating_point() else target.dtype
            state[key] = torch.zeros(target.shape, dtype=storage, device=device)
    model.load_state_dict(state, strict=True, assign=True)
    reset_derived_buffers(model)
    return model.eval().requires_grad_(False)


def _file_keys(model: nn.Module, source: TensorSource, expected: Mapping) -> dict[str, str]:
    """Model key -> the checkpoint key holding it (its own name, else a declared alias)."""
    stored = set(source.keys())
    file_key_for = {key: key for key in expected if key in stored}
    aliases: dict[str, str] = getattr(model, "CHECKPOINT_ALIASES", {})
    for alias, ours in aliases.items():
        if ours in expected and ours not in file_key_for and alias in stored:
            file_key_for[ours] = alias
    return file_key_for


def _check_fit(
    model: nn.Module,
    source: TensorSource,
    expected: Mapping[str, torch.Tensor],
    file_key_for: Mapping[str, str],
    ignored_prefixes: tuple[str, ...],
    name: str,
) -> None:
    aliases: dict[str, str] = getattr(model, "CHECKPOINT_ALIASES", {})
    ignored = tuple(getattr(model, "IGNORED_CHECKPOINT_PREFIXES", ())) + tuple(ignored_prefixes)
    optional = optional_keys(model)
    used = set(file_key_for.values())
    missing = sorted(k for k in expected if k not in file_key_for and k not in optional)
    unexpected = sorted(
        k
        for k in source.keys()
        if k not in used and k not in expected and k not in aliases and not k.startswith(ignored)
    )
    mismatched = [
        f"{key}: file {list(source.shape(file_key))}, model {list(expected[key].shape)}"
        for key, file_key in file_key_for.items()
        if source.shape(file_key) != tuple(expected[key].shape)
    ]
    mismatched += [
        f"{key}: file holds {'floats' if stored else 'integers'}, model needs "
        f"{'floats' if expected[key].is_floating_point() else 'integers'}"
        for key, file_key in file_key_for.items()
        if (stored := source.is_floating(file_key)) != expected[key].is_floating_point()
    ]
    if missing or unexpected or mismatched:
        raise WeightsError(mismatch_message(name, missing, unexpected, mismatched))


def mismatch_message(
    source: str, missing: list[str], unexpected: list[str], mismatched: list[str]
) -> str:
    """The error text for weights that do not fit the model built from the config."""

    def listing(title: str, items: list[str]) -> str:
        shown = "\n    ".join(items[:20])
        more = f"\n    ... and {len(items) - 20} more" if len(items) > 20 else ""
        return f"\n  {title} ({len(items)}):\n    {shown}{more}"

    text = (
        f"The weights in {source or 'the checkpoint'} do not fit the model built from "
        "its config.json."
    )
    if missing:
        text += listing("missing keys", missing)
    if unexpected:
        text += listing("unexpected keys", unexpected)
    if mismatched:
        text += listing("shape or type mismatches", mismatched)
    return text + (
        "\nMake sure the folder holds the complete, unmodified official snapshot "
        "(re-download it if a file was cut short or replaced)."
    )
