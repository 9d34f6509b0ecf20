"""Reading safetensors files: their headers, and their tensors at the speed of memory.

Nothing stays memory-mapped: safetensors itself checks each file's header (and closes it
again), then every tensor is read with plain file reads into memory the caller owns. A map
would keep every page it ever read resident for as long as one tensor viewing it lives (so
loading fp32 weights into bf16 would hold the whole fp32 file), and would let a file replaced
on disk change the weights of a loaded model.

Speed: on a warm page cache a load costs what the kernel spends handing the process fresh
pages and copying the file into them, so the tensors are read by a few threads at once (file
reads release the GIL). A tensor that keeps its dtype is read straight into its final buffer;
one that is converted is read in slices through a small per-thread scratch buffer and
converted slice by slice into its final buffer, so converting needs no file-sized or
tensor-sized temporary.
"""

from __future__ import annotations

import json
import os
import struct
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from ..models.ops import check_storage_range
from .errors import WeightsError

# safetensors dtype names -> torch dtypes (the format's own spelling, little-endian data).
SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
# Bytes converted per slice: large enough that per-slice overhead vanishes, small enough that
# each reading thread's scratch buffer is a rounding error next to the weights.
SLICE_BYTES = 32 * 1024**2
# Reading threads: page faults and copies of different tensors run in parallel on separate
# cores; past a few, the memory bus is the limit.
MAX_READERS = 4


@dataclass(frozen=True)
class StoredTensor:
    """Where one tensor lies in a safetensors file."""

    path: Path
    dtype: torch.dtype
    shape: tuple[int, ...]
    offset: int  # absolute byte offset of the data in the file
    nbytes: int


def read_header(path: Path) -> dict[str, StoredTensor]:
    """Tensor locations of one safetensors file, its header validated by safetensors."""
    try:
        with safe_open(str(path), framework="pt", device="cpu"):
            pass  # the library's checks: header size, offsets, dtypes, file length
        with open(path, "rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(header_size))
    except (SafetensorError, OSError, ValueError, struct.error) as exc:
        raise WeightsError(
            f"{path} is not a readable safetensors file ({exc}). It is probably truncated "
            "or corrupt: delete it and download it again."
        ) from exc
    data_start = 8 + header_size
    entries = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        dtype = SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            raise WeightsError(
                f"{path}: tensor {key!r} has dtype {info['dtype']}, which this loader does not "
                f"read (supported: {', '.join(SAFETENSORS_DTYPES)})."
            )
        begin, end = info["data_offsets"]
        entries[key] = StoredTensor(
            path, dtype, tuple(int(n) for n in info["shape"]), data_start + begin, end - begin
        )
    return entries


class SafetensorsCheckpoint:
    """Key -> location map over one or more safetensors files, read with plain file reads."""

    def __init__(self, files: Iterable[Path]):
        self.entries: dict[str, StoredTensor] = {}
        for path in files:
            for key, entry in read_header(Path(path)).items():
                if key in self.entries:
                    raise WeightsError(
                        f"key {key!r} is stored twice ({self.entries[key].path.name} and "
                        f"{Path(path).name}); keep one copy of the weights per folder."
                    )
                self.entries[key] = entry

    def keys(self) -> Iterable[str]:
        return self.entries.keys()

    def shape(self, key: str) -> tuple[int, ...]:
        return self.entries[key].shape

    def is_floating(self, key: str) -> bool:
        """Whether the stored dtype is a float type (F16, BF16, F32, F8_E4M3, ...)."""
        return self.entries[key].dtype.is_floating_point

    def read(
        self, wanted: Mapping[str, torch.dtype | None], device: torch.device
    ) -> dict[str, torch.Tensor]:
        """The tensors named in ``wanted`` on ``device``, each owning its memory.

        ``wanted[key]`` is the dtype a floating-point tensor is converted to (None: as
        stored); integer tensors always keep their type.
        """
        readers = max(1, min(MAX_READERS, _cpu_count(), len(wanted)))
        local = threading.local()

        def read_one(key: str) -> torch.Tensor:
            return _read_tensor(self.entries[key], wanted[key], device, key, local)

        if readers == 1:
            return {key: read_one(key) for key in wanted}
        # Largest first, so that no thread is left reading one big tensor at the end alone.
        order = sorted(wanted, key=lambda key: -self.entries[key].nbytes)
        with ThreadPoolExecutor(readers, thread_name_prefix="safetensors") as pool:
            tensors = dict(zip(order, pool.map(read_one, order), strict=True))
        return {key: tensors[key] for key in wanted}


def _read_tensor(
    entry: StoredTensor,
    dtype: torch.dtype | None,
    device: torch.device,
    key: str,
    local: threading.local,
) -> torch.Tensor:
    target = dtype if dtype is not None and entry.dtype.is_floating_point else entry.dtype
    if target == entry.dtype and device.type == "cpu":
        buffer = torch.empty(entry.nbytes, dtype=torch.uint8)
        _read_bytes(entry, 0, buffer)
        return buffer.view(entry.dtype).view(entry.shape)
    out = torch.empty(entry.shape, dtype=target, device=device)
    flat = out.view(-1)
    item = entry.dtype.itemsize
    step = max(1, SLICE_BYTES // item)
    scratch = _scratch(local, min(entry.nbytes, step * item))
    for start in range(0, flat.numel(), step):
        count = min(step, flat.numel() - start)
        source = _read_bytes(entry, start * item, scratch[: count * item]).view(entry.dtype)
        if target != entry.dtype:  # a ValueError naming the key if ``target`` cannot hold it
            check_storage_range(source, target, key)
        flat[start : start + count].copy_(source)
    return out


def _scratch(local: threading.local, nbytes: int) -> torch.Tensor:
    """This thread's reusable slice buffer, grown to ``nbytes`` (at most SLICE_BYTES)."""
    scratch = getattr(local, "scratch", None)
    if scratch is None or scratch.numel() < nbytes:
        local.scratch = scratch = torch.empty(nbytes, dtype=torch.uint8)
    return scratch


def _read_bytes(entry: StoredTensor, skip: int, buffer: torch.Tensor) -> torch.Tensor:
    """Fill ``buffer`` with the tensor's bytes from ``skip`` on; a short file is an error."""
    view = memoryview(buffer.numpy()).cast("B")
    done = 0
    try:
        with open(entry.path, "rb", buffering=0) as handle:
            handle.seek(entry.offset + skip)
            while done < len(view):
                count = handle.readinto(view[done:])
                if not count:
                    break
                done += count
    except OSError as exc:
        raise WeightsError(
            f"could not read a tensor from {entry.path} ({exc}); download it again."
        ) from exc
    if done != len(view):
        raise WeightsError(
            f"{entry.path} ends before its tensors do; the file is probably truncated: "
            "download it again."
        )
    return buffer


def _cpu_count() -> int:
    """Cores this process may run on (its affinity, where the platform tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
