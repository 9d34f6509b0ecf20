"""Replays every golden fixture made by the official code (one parametrized test).

Cases are found in ``tests/fixtures/golden`` or in ``$AUDIOGEN_GOLDEN_DIR``; each case's
letter says what it exercises (a: DiT forward, b: adapter and durations, c: the sampling loop,
d: audio decode, e: audio encode, f: schedules, h: the sampling loop on the model's
time-aligned path). Every size comes from the sidecar config or from the weights, never from
the shipped files. The model cases run twice: with torch's layers and with layers that cast
their weights on the fly (``operations=CastOps``, in float32).
"""

from __future__ import annotations

import re

import pytest
from golden_checks import audio_tokenizer, generator
from golden_io import SHIPPED_GOLDEN_DIR, golden_cases, golden_dir, load_case

from audiogen_core.models.ops import CastOps, PlainOps

CHECKS = {
    "a": generator.check_dit_forward,
    "b": generator.check_adapter_duration,
    "c": generator.check_generate,
    "d": audio_tokenizer.check_decode,
    "e": audio_tokenizer.check_encode,
    "f": generator.check_schedules,
    "h": generator.check_generate_time_aligned,
}


def _kind(case_name: str) -> str:
    match = re.match(r"case_([a-z])", case_name)
    assert match, f"golden file {case_name!r} does not follow the case_<letter>_... naming"
    return match.group(1)


MODEL_KINDS = set("abcdeh")  # cases that build a model (f only replays schedules)


def _cases_with_operations() -> list:
    params = []
    for path in golden_cases():
        params.append(pytest.param(path, PlainOps, id=path.stem))
        if _kind(path.stem) in MODEL_KINDS:
            params.append(pytest.param(path, CastOps, id=f"{path.stem}-cast_ops"))
    return params


@pytest.mark.parametrize("path, operations", _cases_with_operations())
def test_golden_case(path, operations):
    kind = _kind(path.stem)
    assert kind in CHECKS, f"no check for golden case kind {kind!r} ({path.name})"
    case = load_case(path)
    if kind in MODEL_KINDS:
        CHECKS[kind](case, operations=operations)
    else:
        CHECKS[kind](case)


def test_golden_cases_found():
    names = {p.stem for p in golden_cases()}
    assert names, f"no golden case_*.safetensors in {golden_dir()}"
    if golden_dir() == SHIPPED_GOLDEN_DIR:  # another set may cover only some kinds
        kinds = {_kind(n) for n in names}
        assert kinds >= set(CHECKS), f"missing golden case kinds in {sorted(names)}"
