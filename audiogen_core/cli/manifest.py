"""The output folder of a batch run: audio written atomically, and a manifest that can resume it.

Order of writes, so that a crash at any moment leaves nothing half done under a final name:
the audio is written atomically (``media.files``: a hidden temporary file in the output folder,
flushed to disk, renamed onto its final name); only then is its manifest line appended and
flushed. A crash can therefore leave a finished file without its line (resume finds it,
makes the audio again and records the file if the bytes are the same), but never a line
without its file or a torn file under a final name.

Every process appends to its own part, ``manifest.part-RANK.jsonl``; at the end of a run the
first process merges ``manifest.jsonl`` and all parts into a new ``manifest.jsonl`` (written
atomically too) and removes the parts. A run that was stopped leaves its parts, and the next
run reads them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

from ..media.files import write_atomically

MANIFEST_NAME = "manifest.jsonl"
_PART_PATTERN = re.compile(r"manifest\.part-(\d+)\.jsonl")


def part_path(folder: Path, rank: int) -> Path:
    return folder / f"manifest.part-{rank}.jsonl"


def _part_paths(folder: Path) -> list[Path]:
    parts = [p for p in folder.glob("manifest.part-*.jsonl") if _PART_PATTERN.fullmatch(p.name)]
    return sorted(parts, key=lambda p: int(_PART_PATTERN.fullmatch(p.name).group(1)))


def read_records(folder: Path) -> tuple[list[dict], list[str]]:
    """All manifest records of ``folder`` in the order they were written, and problems seen.

    A line that does not parse (the torn end of a part whose process was killed while
    appending) is skipped and reported: its file, if any, is checked again by the caller.
    """
    records: list[dict] = []
    problems: list[str] = []
    for path in [folder / MANIFEST_NAME, *_part_paths(folder)]:
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                problems.append(f"{path.name} line {number} is incomplete and was skipped")
                continue
            if isinstance(record, dict) and record.get("status") in ("done", "failed"):
                records.append(record)
            else:
                problems.append(f"{path.name} line {number} is not a manifest record; skipped")
    return records, problems


def record_key(record: dict) -> tuple:
    """Records with the same key describe the same thing; the last one written counts."""
    if record.get("file"):
        return ("file", str(record["file"]).casefold())
    return ("line", record.get("line"))


def latest_records(records: Iterable[dict]) -> dict[tuple, dict]:
    latest: dict[tuple, dict] = {}
    for record in records:
        latest[record_key(record)] = record
    return latest


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(folder: Path, record: dict) -> str | None:
    """None when the record's file is there and whole, else what is wrong with it."""
    import soundfile

    path = folder / str(record.get("file"))
    if not path.is_file():
        return f"{path.name} is missing"
    if sha256_of(path) != record.get("sha256"):
        return f"{path.name} differs from its manifest line (sha256)"
    try:
        frames = soundfile.info(str(path)).frames
    except RuntimeError as exc:
        return f"{path.name} cannot be read as audio ({exc})"
    if frames != record.get("samples"):
        return f"{path.name} holds {frames} samples, its manifest line says {record.get('samples')}"
    return None


class ManifestPart:
    """This process's part of the manifest: one JSON line per record, each flushed to disk."""

    def __init__(self, folder: Path, rank: int) -> None:
        self.path = part_path(folder, rank)
        self._handle = open(self.path, "ab")  # noqa: SIM115 - kept open for the whole run

    def append(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        self._handle.write(line.encode("utf-8"))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def merge(folder: Path, order: dict[tuple, int]) -> list[dict]:
    """Fold ``manifest.jsonl`` and every part into a new ``manifest.jsonl``; remove the parts.

    One record per file (and per bad line) remains, the latest; they are sorted by ``order``
    (record key -> position in the jobs file). Files the jobs file no longer makes keep their
    records, at the end; records of bad lines it no longer has (fixed since) are dropped.
    """
    parts = _part_paths(folder)
    records, _ = read_records(folder)
    latest = [r for key, r in latest_records(records).items() if r.get("file") or key in order]
    latest.sort(key=lambda r: (order.get(record_key(r), len(order)), str(r.get("file"))))
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in latest)
    write_atomically(folder / MANIFEST_NAME, text.encode("utf-8"), overwrite=True)
    for part in parts:
        part.unlink(missing_ok=True)
    return latest
