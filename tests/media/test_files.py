"""The one file writer: atomic, umask modes, no overwriting unless asked; the one WAV encoder."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import soundfile
from file_limits import file_size_limit

from audiogen_core.media.files import (
    TEMPORARY_GLOB,
    encode_wav,
    remove_temporaries,
    write_all_atomically,
    write_atomically,
)


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def test_a_new_file_gets_the_umask_mode_and_its_bytes(tmp_path, umask_027):
    path = write_atomically(tmp_path / "a.bin", b"abc")
    assert path.read_bytes() == b"abc"
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_an_existing_file_is_kept_unless_overwrite_is_asked(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with pytest.raises(FileExistsError, match="File exists"):
        write_atomically(path, b"new")
    assert path.read_bytes() == b"old"
    assert list(tmp_path.glob(TEMPORARY_GLOB)) == []
    write_atomically(path, b"new", overwrite=True)
    assert path.read_bytes() == b"new"
    assert list(tmp_path.glob(TEMPORARY_GLOB)) == []


def test_a_failing_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with file_size_limit(1000), pytest.raises(OSError, match="File too large"):
        write_atomically(path, b"x" * 5000, overwrite=True)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_several_files_are_written_all_or_none(tmp_path):
    files = [(tmp_path / "small.bin", b"x" * 100), (tmp_path / "large.bin", b"x" * 5000)]
    with file_size_limit(1000), pytest.raises(OSError, match="File too large"):
        write_all_atomically(files)
    assert list(tmp_path.iterdir()) == []
    assert write_all_atomically(files) == [tmp_path / "small.bin", tmp_path / "large.bin"]
    assert (tmp_path / "large.bin").stat().st_size == 5000


def test_a_missing_folder_is_an_os_error_and_a_long_name_still_works(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "missing" / "a.bin", b"x")
    longest = tmp_path / ("n" * 251 + ".wav")  # as long as most file systems allow
    assert write_atomically(longest, b"x").read_bytes() == b"x"


def test_remove_temporaries_removes_only_them(tmp_path):
    (tmp_path / ".audiogen-0123456789ab.partial").write_bytes(b"torn")
    (tmp_path / "keep.wav").write_bytes(b"whole")
    (tmp_path / ".hidden").write_bytes(b"the user's")
    remove_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "keep.wav"]


@pytest.mark.parametrize("fmt, subtype", [("pcm16", "PCM_16"), ("float", "FLOAT")])
def test_wav_bytes_hold_the_audio_and_nothing_time_stamped(fmt, subtype):
    samples = (0.5 * np.sin(np.arange(16000) / 8)).astype(np.float32)
    data = encode_wav(samples, 16000, fmt)
    assert b"PEAK" not in data  # libsndfile's PEAK chunk records the time of writing
    decoded, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    info = soundfile.info(io.BytesIO(data))
    assert (rate, info.channels, info.subtype) == (16000, 1, subtype)
    tolerance = 0 if fmt == "float" else 1 / 32768
    assert np.abs(decoded - samples).max() <= tolerance
    stereo = encode_wav(np.stack([samples, -samples], axis=1), 16000, fmt)
    assert soundfile.info(io.BytesIO(stereo)).channels == 2


def test_an_unknown_wav_format_is_refused():
    with pytest.raises(ValueError, match="use one of pcm16, float"):
        encode_wav(np.zeros(10, np.float32), 16000, "mp3")
