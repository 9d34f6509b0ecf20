"""This process's resident memory as Linux reports it, for benchmarks run in fresh processes."""

from __future__ import annotations

from pathlib import Path


def status_bytes(field: str) -> int | None:
    """A /proc/self/status memory field (VmRSS, VmHWM, ...) in bytes; None where unavailable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True
