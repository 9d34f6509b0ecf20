"""Replays every golden fixture made by the official code (one parametrized test).

Cases are found in ``tests/fixtures/golden`` or in ``$AUDIOGEN_GOLDEN_DIR``; each case's
letter says what it exercises (a: DiT forward, b: adapter and durations, c: the sampling loop,
d: audio decode, e: audio encode, f: schedules, h: the sampling loop on the model's
time-aligned path). Every size comes from the sidecar config or from the weights, never from
the shipped files.
"""

from __future__ import annotations

import re

import pytest
from golden_checks import audio_tokenizer, generator
from golden_io import SHIPPED_GOLDEN_DIR, golden_cases, golden_dir, load_case

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


@pytest.mark.parametrize("path", golden_cases(), ids=lambda p: p.stem)
def test_golden_case(path):
    kind = _kind(path.stem)
    assert kind in CHECKS, f"no check for golden case kind {kind!r} ({path.name})"
    CHECKS[kind](load_case(path))


def test_golden_cases_found():
    names = {p.stem for p in golden_cases()}
    assert names, f"no golden case_*.safetensors in {golden_dir()}"
    if golden_dir() == SHIPPED_GOLDEN_DIR:  # another set may cover only some kinds
        kinds = {_kind(n) for n in names}
        assert kinds >= set(CHECKS), f"missing golden case kinds in {sorted(names)}"
