"""Reading golden fixtures: ``case_*.safetensors`` plus their ``case_*.json`` sidecars.

The shipped set lives in ``tests/fixtures/golden``; ``AUDIOGEN_GOLDEN_DIR`` points at another
folder of the same format (other configs and seeds), so nothing here may assume a dimension.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

SHIPPED_GOLDEN_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "golden"


def golden_dir() -> Path:
    override = os.environ.get("AUDIOGEN_GOLDEN_DIR")
    return Path(override) if override else SHIPPED_GOLDEN_DIR


def golden_cases() -> list[Path]:
    return sorted(golden_dir().glob("*.safetensors"))


def first_case(prefix: str) -> GoldenCase:
    """The first golden case whose file name starts with ``prefix`` (e.g. "case_c_").

    Unit tests use it: they take the case from ``$AUDIOGEN_GOLDEN_DIR`` when that set has one
    (so they also run at its dims), else from the shipped set.
    """
    for folder in dict.fromkeys([golden_dir(), SHIPPED_GOLDEN_DIR]):
        paths = sorted(folder.glob(f"{prefix}*.safetensors"))
        if paths:
            return load_case(paths[0])
    raise AssertionError(f"no golden case {prefix}* in {golden_dir()} or {SHIPPED_GOLDEN_DIR}")


@dataclass
class GoldenCase:
    name: str
    meta: dict
    weights: dict[str, torch.Tensor]
    inputs: dict[str, torch.Tensor]
    outputs: dict[str, torch.Tensor]

    def max_abs(self, output_name: str) -> float:
        return float(self.meta["tensors"][f"outputs.{output_name}"]["max_abs"])


def load_case(path: Path) -> GoldenCase:
    tensors = load_file(str(path))
    meta = json.loads(path.with_suffix(".json").read_text())

    def namespace(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    return GoldenCase(
        name=path.stem,
        meta=meta,
        weights=namespace("weights."),
        inputs=namespace("inputs."),
        outputs=namespace("outputs."),
    )


def assert_scaled_close(
    ours: torch.Tensor, expected: torch.Tensor, max_abs: float, k: float, what: str
) -> None:
    """``max|ours - expected| <= k * max_abs`` (tolerance relative to the output's magnitude)."""
    assert ours.shape == expected.shape, (
        f"{what}: shape {tuple(ours.shape)} != {tuple(expected.shape)}"
    )
    err = (ours.detach().double().cpu() - expected.double()).abs().max().item()
    bound = k * max_abs
    assert err <= bound, (
        f"{what}: max abs error {err:.3e} > {bound:.3e} (k={k}, max_abs={max_abs:.3e})"
    )
