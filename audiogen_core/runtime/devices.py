"""Device and precision choice shared by the CLI, the pipeline and the nodes.

"auto" picks the fastest option that is known to work: CUDA with bfloat16 where the card
supports it (float16 otherwise), Apple's MPS with float16, and on the CPU bfloat16 only where
the CPU computes it natively (AMX or AVX512-BF16), float32 otherwise: without those
instructions bf16 matmuls are emulated and several times slower than fp32.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

# CPU features (as /proc/cpuinfo spells them) that give native bf16 matmuls in PyTorch.
NATIVE_BF16_CPU_FEATURES = ("amx_bf16", "avx512_bf16")

DTYPE_NAMES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DTYPE_CHOICES = ("auto", *DTYPE_NAMES)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn "auto", "cpu", "cuda", "cuda:1" or "mps" into a device that exists here."""
    if isinstance(name, torch.device):
        return name
    name = name.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r} was requested but this PyTorch build sees no CUDA GPU; "
            "use --device cpu (or auto), or install a CUDA build of PyTorch."
        )
    if name == "mps" and not _mps_available():
        raise ValueError(
            "device 'mps' was requested but Apple's MPS backend is not available here; "
            "use --device cpu (or auto)."
        )
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ValueError(
            f"unknown device {name!r}: use one of {', '.join(DEVICE_CHOICES)}"
        ) from exc


def resolve_dtype(
    name: str | torch.dtype = "auto", device: torch.device | str = "cpu"
) -> torch.dtype:
    """Turn "auto", "fp32", "bf16" or "fp16" into a torch dtype suited to ``device``."""
    if isinstance(name, torch.dtype):
        return name
    key = name.strip().lower()
    if key == "auto":
        dtype, reason = auto_dtype(device)
        logger.info("precision auto: %s (%s)", dtype_name(dtype), reason)
        return dtype
    aliases = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16"}
    key = aliases.get(key, key)
    if key not in DTYPE_NAMES:
        raise ValueError(f"unknown precision {name!r}: use one of {', '.join(DTYPE_CHOICES)}")
    return DTYPE_NAMES[key]


def dtype_name(dtype: torch.dtype) -> str:
    """The option name of a dtype ("fp32", "bf16", "fp16"), else torch's own name."""
    for name, value in DTYPE_NAMES.items():
        if value == dtype:
            return name
    return str(dtype).removeprefix("torch.")


def auto_dtype(device: torch.device | str = "cpu") -> tuple[torch.dtype, str]:
    """The precision "auto" picks on ``device``, and why (for the log line)."""
    kind = torch.device(device).type
    if kind == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16, "the GPU supports bf16"
        return torch.float16, "the GPU has no bf16 support"
    if kind == "mps":
        return torch.float16, "Apple MPS"
    if kind == "cpu":
        return cpu_auto_dtype(cpu_features(), torch.backends.cpu.get_cpu_capability())
    return torch.float32, f"no precision rule for {kind} devices"


def cpu_auto_dtype(features: Iterable[str], capability: str) -> tuple[torch.dtype, str]:
    """bf16 on a CPU with native bf16 (``NATIVE_BF16_CPU_FEATURES``), fp32 otherwise.

    ``features`` are CPU feature names as /proc/cpuinfo spells them, ``capability`` is the
    vector instruction set PyTorch's kernels use (``torch.backends.cpu.get_cpu_capability()``),
    named in the reason only.
    """
    native = [name for name in NATIVE_BF16_CPU_FEATURES if name in set(features)]
    if native:
        return torch.bfloat16, f"the CPU has native bf16 ({', '.join(native)})"
    return torch.float32, (
        f"the CPU has no native bf16 (no AMX or AVX512-BF16; PyTorch uses {capability}), "
        "where bf16 is slower than fp32"
    )


def cpu_features() -> frozenset[str]:
    """This CPU's native-bf16 features, from PyTorch's own CPU probe or /proc/cpuinfo."""
    probes = {  # every CPU with AMX tiles so far has AMX-BF16 too (Sapphire Rapids onwards)
        "amx_bf16": getattr(torch.cpu, "_is_amx_tile_supported", None),
        "avx512_bf16": getattr(torch.cpu, "_is_avx512_bf16_supported", None),
    }
    if all(probe is not None for probe in probes.values()):  # works on Windows and macOS too
        return frozenset(name for name, probe in probes.items() if probe())
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()
