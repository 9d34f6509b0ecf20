"""Jobs files for batch runs: JSON Lines or CSV, one job a line, read into checked jobs.

Fields (a prompt is required, everything else is optional)::

    prompt                     a complete tagged prompt ("<|caption|> ... <|sfx|> ...")
    caption speech asr sfx music env
                               the views, composed like the CLI's view options
    name                       file name stem (default: line_NNNNN, the line number)
    duration seed variations steps guidance sway
                               as the generate command; unset ones take the command's values

The official Dasheng-AudioGen prompt files are read as they are: the MECAT evaluation sets
(``evaluation/mecat_*_en.jsonl``: ``audio_id``, ``content``, ``caption``, ``category``,
``audio``) and the example files (``audio_id`` plus ``content``, or the views, or a tagged
prompt in ``caption``). ``audio_id`` names the file, ``content`` is the tagged prompt, and a
``caption`` that starts with ``<|caption|>`` is a whole tagged prompt rather than a view;
``category`` and ``audio`` (the recording an evaluation compares against) are known and unused.

A line that cannot be used becomes a ``BadLine`` with its line number and the reason; the other
lines still run. Unknown fields are reported once per field.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..conditioning.prompt import TAGS, VIEWS, compose_views, validate_prompt
from ..sampling.latent import frames_for_duration

LATENT_FRAME_RATE = 25  # Dasheng-AudioGen: 16000 Hz / 640 samples per latent frame
MAX_VARIATIONS = 100
SETTINGS = ("duration", "seed", "variations", "steps", "guidance", "sway")
OFFICIAL_FIELDS = ("audio_id", "content", "category", "audio")
KNOWN_FIELDS = ("prompt", *VIEWS, "name", *SETTINGS, *OFFICIAL_FIELDS)
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\<>:"|?*]')
_MAX_NAME = 120


class JobsFileError(ValueError):
    """The jobs file as a whole cannot be used (missing, unreadable, no jobs at all)."""


@dataclass(frozen=True)
class JobDefaults:
    """Settings for jobs that do not set them (the batch command's options)."""

    duration_s: float | None = None
    seed: int = 0
    variations: int = 1
    steps: int = 25
    guidance: float = 5.0
    sway: float = -1.0


@dataclass(frozen=True)
class Job:
    line: int
    name: str
    prompt: str
    seed: int
    duration_s: float | None  # None: the model's predicted length
    variations: int
    steps: int
    guidance: float
    sway: float

    @property
    def items(self) -> list[Item]:
        return [Item(self, v) for v in range(self.variations)]

    @property
    def sampler_settings(self) -> tuple:
        """What must be equal for two jobs to share one sampler call."""
        return (self.duration_s, self.steps, self.guidance, self.sway)


@dataclass(frozen=True)
class Item:
    """One output file: a job's variation ``variation`` (seed ``job.seed + variation``)."""

    job: Job
    variation: int

    @property
    def seed(self) -> int:
        return self.job.seed + self.variation

    @property
    def file(self) -> str:
        if self.job.variations == 1:
            return f"{self.job.name}.wav"
        return f"{self.job.name}_{self.variation:02d}.wav"


@dataclass(frozen=True)
class BadLine:
    line: int
    message: str


@dataclass
class JobsFile:
    jobs: list[Job]
    bad_lines: list[BadLine]
    warnings: list[str] = field(default_factory=list)


def read_jobs(path: Path, defaults: JobDefaults) -> JobsFile:
    """Read and check every line of a JSONL (or, for ``*.csv``, CSV) jobs file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JobsFileError(f"cannot read the jobs file {path}: {exc.strerror or exc}") from exc
    rows = _csv_rows(data, path) if path.suffix.lower() == ".csv" else _jsonl_rows(data)
    jobs: list[Job] = []
    bad: list[BadLine] = []
    unknown: dict[str, int] = {}
    for line, row in rows:
        if isinstance(row, BadLine):
            bad.append(row)
            continue
        for key in row:
            if key not in KNOWN_FIELDS:
                unknown.setdefault(key, line)
        try:
            jobs.append(_job(line, row, defaults))
        except ValueError as exc:
            bad.append(BadLine(line, str(exc)))
    jobs, duplicates = _drop_duplicate_files(jobs)
    bad = sorted(bad + duplicates, key=lambda b: b.line)
    if not jobs and not bad:
        raise JobsFileError(f"the jobs file {path} holds no jobs")
    warnings = [
        f"{path.name}: unknown field {key!r} (first on line {line}) is ignored; known fields: "
        + ", ".join(KNOWN_FIELDS)
        for key, line in unknown.items()
    ]
    return JobsFile(jobs, bad, warnings)


def _jsonl_rows(data: bytes) -> list[tuple[int, dict | BadLine]]:
    rows: list[tuple[int, dict | BadLine]] = []
    # Split on "\n" only: JSON strings may hold other line separators (U+2028) verbatim.
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            rows.append((number, BadLine(number, "is not UTF-8 text")))
            continue
        except json.JSONDecodeError as exc:
            rows.append(
                (number, BadLine(number, f"is not valid JSON ({exc.msg}, column {exc.colno})"))
            )
            continue
        if not isinstance(value, dict):
            rows.append((number, BadLine(number, 'must be a JSON object ({"prompt": ...})')))
            continue
        rows.append((number, value))
    return rows


def _csv_rows(data: bytes, path: Path) -> list[tuple[int, dict | BadLine]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JobsFileError(f"the CSV file {path} is not UTF-8 text ({exc.reason})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip() for name in next(reader, [])]
    if not any(header):
        raise JobsFileError(f"the CSV file {path} has no header line (e.g. name,prompt,seed)")
    rows: list[tuple[int, dict | BadLine]] = []
    start = reader.line_num + 1
    for cells in reader:
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            rows.append((start, BadLine(start, "has more cells than the header has columns")))
        else:
            # An empty cell means "not set", like a field left out of a JSON line.
            row = {k: v for k, v in zip(header, cells, strict=False) if k and v.strip()}
            if row:
                rows.append((start, row))
        start = reader.line_num + 1
    return rows


def _job(line: int, row: dict, defaults: JobDefaults) -> Job:
    duration = row.get("duration")
    return Job(
        line=line,
        name=_name(row.get("name", row.get("audio_id")), line),
        prompt=_prompt(row),
        seed=_whole(row.get("seed"), "seed", defaults.seed, 0),
        duration_s=defaults.duration_s if duration is None else _duration(duration),
        variations=_whole(
            row.get("variations"), "variations", defaults.variations, 1, MAX_VARIATIONS
        ),
        steps=_whole(row.get("steps"), "steps", defaults.steps, 1),
        guidance=_number(row.get("guidance"), "guidance", defaults.guidance, minimum=0.0),
        sway=_number(row.get("sway"), "sway", defaults.sway),
    )


def _prompt(row: dict) -> str:
    views = {v: _text(row[v], v) for v in VIEWS if row.get(v) not in (None, "")}
    raw_key = next((k for k in ("prompt", "content") if row.get(k) not in (None, "")), None)
    raw = _text(row[raw_key], raw_key) if raw_key else None
    caption = views.get("caption", "")
    if set(views) == {"caption"} and caption.lstrip().startswith(TAGS["caption"]):
        # The official files hold the whole tagged prompt in ``caption`` (the MECAT sets give
        # the same text again in ``content``).
        if raw is not None and raw.strip() != caption.strip():
            raise ValueError(
                f"'{raw_key}' and 'caption' hold two different tagged prompts; keep one"
            )
        raw, views = caption, {}
    if raw is not None and views:
        raise ValueError(
            f"gives both a tagged prompt ('{raw_key}') and view fields "
            f"({', '.join(views)}): use one or the other"
        )
    if raw is not None:
        return validate_prompt(raw)
    if not views:
        raise ValueError(
            "has no prompt: give 'prompt' (a tagged prompt starting with <|caption|>) or the "
            "view fields ('caption' and optional speech, asr, sfx, music, env)"
        )
    return compose_views(**views)


def _text(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"'{key}' must be text, got {value!r}")
    return value


def _name(value: object, line: int) -> str:
    if value in (None, ""):
        return f"line_{line:05d}"
    name = str(value).strip() if isinstance(value, (str, int)) else None
    if not name or isinstance(value, bool):
        raise ValueError(f"'name' must be text, got {value!r}")
    if _UNSAFE_NAME.search(name) or name.startswith((".", "-")) or len(name) > _MAX_NAME:
        raise ValueError(
            f"name {name!r} cannot be a file name: use at most {_MAX_NAME} letters, digits, "
            "spaces, '_', '-' or '.', not starting with '.' or '-', and no / \\ : * ? \" < > |"
        )
    return name


def _whole(value: object, key: str, default: int, minimum: int, maximum: int | None = None):
    if value is None:
        return default
    number = _as_number(value, key)
    if not float(number).is_integer() or number < minimum or (maximum and number > maximum):
        upper = f" and <= {maximum}" if maximum else ""
        raise ValueError(f"'{key}' must be a whole number >= {minimum}{upper}, got {value!r}")
    return int(number)


def _number(value: object, key: str, default: float, minimum: float | None = None) -> float:
    if value is None:
        return default
    number = float(_as_number(value, key))
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        bound = f" >= {minimum:g}" if minimum is not None else ""
        raise ValueError(f"'{key}' must be a finite number{bound}, got {value!r}")
    return number


def _duration(value: object) -> float:
    seconds = float(_as_number(value, "duration"))
    frames_for_duration(seconds, LATENT_FRAME_RATE)  # raises, naming the allowed range
    return seconds


def _as_number(value: object, key: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"'{key}' must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"'{key}' must be a number, got {value!r}") from None
    return value


def _drop_duplicate_files(jobs: list[Job]) -> tuple[list[Job], list[BadLine]]:
    """Keep the first job that makes a file name; later ones are bad lines (never overwrite).

    Names are compared case-insensitively, as on the file systems of macOS and Windows.
    """
    owner: dict[str, Job] = {}
    kept: list[Job] = []
    bad: list[BadLine] = []
    for job in jobs:
        clash = next(
            (owner[i.file.casefold()] for i in job.items if i.file.casefold() in owner), None
        )
        if clash is not None:
            bad.append(
                BadLine(
                    job.line,
                    f"name {job.name!r} gives a file that line {clash.line} ({clash.name!r}) "
                    "already makes: give every job its own name",
                )
            )
            continue
        for item in job.items:
            owner[item.file.casefold()] = job
        kept.append(job)
    return kept, bad
