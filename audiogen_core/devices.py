"""Device and precision choice shared by the CLI, the pipeline and the nodes.

"auto" picks the fastest option that is known to work: CUDA with bfloat16 where the card
supports it (float16 otherwise), Apple's MPS with float16, and the CPU with float32 (bf16
matmuls on most CPUs are slower than fp32 and only save memory).
"""

from __future__ import annotations

import torch

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
        kind = torch.device(device).type
        if kind == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if kind == "mps":
            return torch.float16
        return torch.float32
    aliases = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16"}
    key = aliases.get(key, key)
    if key not in DTYPE_NAMES:
        raise ValueError(f"unknown precision {name!r}: use one of {', '.join(DTYPE_CHOICES)}")
    return DTYPE_NAMES[key]
