"""Every file the package writes goes through here, and every WAV file is encoded here.

Writes are atomic: the bytes go to a hidden temporary file in the target's own folder (so the
rename never crosses file systems), are flushed to disk, and the file is renamed onto its
name, after which the folder is flushed too (the rename itself survives a power cut). A
failed write leaves no partial file and the old file, if any, as it was. A new file gets the
mode any new file gets (0666 less the umask: the kernel applies it when the temporary file is
created), and an existing file is replaced only when the caller asks.

WAV bytes depend on the audio alone: libsndfile adds a PEAK chunk to float files that holds
the time of writing, so it is turned off, and identical audio gives identical files (which is
what lets a batch run recognise a file it already made by its hash).
"""

from __future__ import annotations

import errno
import io
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import numpy as np

TEMPORARY_PREFIX = ".audiogen-"
TEMPORARY_SUFFIX = ".partial"
TEMPORARY_GLOB = f"{TEMPORARY_PREFIX}*{TEMPORARY_SUFFIX}"
"""Names of temporary files; a process killed mid-write leaves one behind, never a torn file."""

WAV_SUBTYPES = {"pcm16": "PCM_16", "float": "FLOAT"}
"""The WAV sample formats the command line offers, as libsndfile names them."""

# libsndfile's sf_command() switch for the PEAK chunk of float files (sndfile.h).
_SFC_SET_ADD_PEAK_CHUNK = 0x1050
_SF_FALSE = 0


class StagedFile:
    """Bytes written and flushed to a temporary file next to ``path``, not yet under its name."""

    def __init__(self, path: Path | str, data: bytes | bytearray | memoryview) -> None:
        self.path = Path(path)
        self.temporary: Path | None = None
        try:
            self.temporary = _create_temporary(self.path.parent)
            with open(self.temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            self.discard()
            raise _naming(exc, self.path) from None
        except BaseException:
            self.discard()
            raise

    def commit(self, overwrite: bool = False) -> Path:
        """Put the file under its name; FileExistsError (temporary removed) if one is there
        and ``overwrite`` is false."""
        try:
            if overwrite:
                os.replace(self.temporary, self.path)
            else:
                _rename_without_replacing(self.temporary, self.path)
        except OSError as exc:
            raise _naming(exc, self.path) from None
        finally:
            self.discard()
        _fsync_folder(self.path.parent)
        return self.path

    def discard(self) -> None:
        if self.temporary is not None:
            self.temporary.unlink(missing_ok=True)


def write_atomically(
    path: Path | str, data: bytes | bytearray | memoryview, *, overwrite: bool = False
) -> Path:
    """``data`` under ``path`` in one step. Raises FileExistsError when ``path`` exists and
    ``overwrite`` is false, OSError when the file cannot be written (nothing is left behind)."""
    return StagedFile(path, data).commit(overwrite)


def write_all_atomically(
    files: Iterable[tuple[Path | str, bytes | bytearray | memoryview]], *, overwrite: bool = False
) -> list[Path]:
    """Several files, all or none: every one is written to its temporary file first, and they
    are renamed onto their names only when all of them were written."""
    staged: list[StagedFile] = []
    try:
        for path, data in files:
            staged.append(StagedFile(path, data))
        return [file.commit(overwrite) for file in staged]
    finally:
        for file in staged:
            file.discard()


def remove_temporaries(folder: Path | str) -> None:
    """Delete the temporary files that killed writers left in ``folder`` (never a real file)."""
    for temporary in Path(folder).glob(TEMPORARY_GLOB):
        temporary.unlink(missing_ok=True)


def encode_wav(samples: np.ndarray, sample_rate: int, fmt: str = "pcm16") -> bytes:
    """A WAV file's bytes (``fmt`` one of WAV_SUBTYPES), made in memory: its hash is known
    before it is written, and a full disk is reported by the write that names the cause
    (libsndfile says only "System error")."""
    import soundfile

    if fmt not in WAV_SUBTYPES:
        raise ValueError(f"unknown WAV format {fmt!r}: use one of {', '.join(WAV_SUBTYPES)}")
    samples = np.asarray(samples)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    subtype = WAV_SUBTYPES[fmt]
    buffer = io.BytesIO()
    with soundfile.SoundFile(buffer, "w", sample_rate, channels, subtype, format="WAV") as file:
        if subtype in ("FLOAT", "DOUBLE"):
            _omit_peak_chunk(file)
        file.write(samples)
    return buffer.getvalue()


def _omit_peak_chunk(sound_file) -> None:
    """soundfile has no public switch for the PEAK chunk; libsndfile's sf_command has."""
    import soundfile

    soundfile._snd.sf_command(
        sound_file._file, _SFC_SET_ADD_PEAK_CHUNK, soundfile._ffi.NULL, _SF_FALSE
    )


def _naming(error: OSError, path: Path) -> OSError:
    """``error`` naming the file the caller asked for, not the temporary one."""
    error.filename, error.filename2 = str(path), None
    return error


def _create_temporary(folder: Path) -> Path:
    # A short fixed name: the target's own name may already be as long as the file system
    # allows. Mode 0o666 here lets the kernel apply the umask (and a default ACL) itself.
    while True:
        temporary = folder / f"{TEMPORARY_PREFIX}{secrets.token_hex(6)}{TEMPORARY_SUFFIX}"
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return temporary


def _rename_without_replacing(source: Path, target: Path) -> None:
    """A rename that fails with FileExistsError instead of replacing ``target``, even when
    another process creates it at the same moment (a hard link never replaces)."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:
        # File systems without hard links (FAT, some network mounts): check, then rename.
        if target.exists():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target)) from None
        os.replace(source, target)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; folders cannot be opened this way on Windows.
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
