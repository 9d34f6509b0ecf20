"""Precision choice: "auto" on the CPU is bf16 only with native bf16 (runtime/devices.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from audiogen_core.runtime.devices import auto_dtype, cpu_auto_dtype, cpu_features, resolve_dtype

AVX2_FLAGS = {"sse4_2", "avx", "avx2", "fma", "f16c"}
AVX512_FLAGS = AVX2_FLAGS | {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"}


@pytest.mark.parametrize(
    ("flags", "capability", "expected", "named"),
    [
        (AVX2_FLAGS, "AVX2", torch.float32, "AVX2"),
        (AVX512_FLAGS, "AVX512", torch.float32, "AVX512"),  # AVX-512 without its bf16 part
        (AVX512_FLAGS | {"avx512_bf16"}, "AVX512", torch.bfloat16, "avx512_bf16"),
        (AVX512_FLAGS | {"amx_tile", "amx_bf16"}, "AVX512", torch.bfloat16, "amx_bf16"),
        (set(), "DEFAULT", torch.float32, "DEFAULT"),
    ],
)
def test_cpu_rule_is_a_function_of_the_cpu_flags(flags, capability, expected, named):
    dtype, reason = cpu_auto_dtype(flags, capability)
    assert dtype == expected
    assert named in reason
    assert reason.startswith("the CPU has native bf16") == (expected == torch.bfloat16)


def _proc_cpuinfo_flags() -> set[str]:
    path = Path("/proc/cpuinfo")
    if not path.exists():
        pytest.skip("no /proc/cpuinfo")
    for line in path.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    pytest.skip("/proc/cpuinfo has no x86 flags line")


def test_this_machine_gets_what_its_flags_say():
    flags = _proc_cpuinfo_flags()
    native = bool(flags & {"avx512_bf16", "amx_bf16"})
    assert bool(cpu_features() & {"avx512_bf16", "amx_bf16"}) == native
    dtype, reason = auto_dtype("cpu")
    assert dtype == (torch.bfloat16 if native else torch.float32), reason


def test_auto_logs_the_choice_and_the_reason(caplog):
    with caplog.at_level(logging.INFO, logger="audiogen_core.runtime.devices"):
        dtype = resolve_dtype("auto", "cpu")
    expected, reason = auto_dtype("cpu")
    assert dtype == expected
    assert reason in caplog.text


def test_explicit_precision_is_kept():
    assert resolve_dtype("fp32", "cpu") == torch.float32
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_dtype("fp64", "cpu")
