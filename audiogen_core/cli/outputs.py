"""The files ``generate`` writes: every path checked before any model loads, and the WAVs
written all or none through the package's one file writer."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..media.files import encode_wav, write_all_atomically
from .errors import CliError


def output_paths(out: Path, count: int, overwrite: bool) -> list[Path]:
    """Every file the run will write, checked now so that no generation is wasted on them."""
    if out.suffix.lower() != ".wav":
        raise CliError(f"--out must end in .wav, got {out}")
    folder = out.parent
    if not folder.exists():
        raise CliError(f"the output folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise CliError(f"{folder} is not a folder, so --out {out} cannot be written")
    _check_writable(folder)
    paths = (
        [out] if count == 1 else [out.with_name(f"{out.stem}_{i:02d}.wav") for i in range(count)]
    )
    name_max = _name_max(folder)
    for path in paths:
        if len(os.fsencode(path.name)) > name_max:
            raise CliError(
                f"the file name {path.name[:40]}... is {len(os.fsencode(path.name))} bytes long; "
                f"this file system allows {name_max}: choose a shorter --out"
            )
        if path.is_dir():
            raise CliError(f"{path} is a folder; choose another --out")
        if path.exists() and not overwrite:
            raise CliError(f"{path} already exists; choose another --out or pass --overwrite")
    return paths


def write_wavs(
    paths: list[Path], clips: list[np.ndarray], sample_rate: int, fmt: str, overwrite: bool
) -> None:
    """Write every clip or none (see ``media.files.write_all_atomically``)."""
    files = [
        (path, encode_wav(samples, sample_rate, fmt))
        for path, samples in zip(paths, clips, strict=True)
    ]
    try:
        write_all_atomically(files, overwrite=overwrite)
    except OSError as exc:
        where = exc.filename or ", ".join(map(str, paths))
        raise CliError(f"could not write {where}: {exc.strerror or exc}") from exc


def _check_writable(folder: Path) -> None:
    """Create and remove a file there: the only test that permissions, ACLs, read-only mounts
    and immutable folders all answer truthfully (root passes os.access everywhere)."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".audiogen-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise CliError(
            f"the output folder {folder} is not writable ({exc.strerror or exc}); "
            "choose another --out"
        ) from exc
    os.close(handle)
    os.unlink(probe)


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or no answer
        return 255
