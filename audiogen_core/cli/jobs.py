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

A line that cannot be used (not JSON, no prompt, a bad name) becomes a ``BadLine`` with its
line number and the reason; the other lines still run. A setting that breaks one of the limits
every entry point shares (``SETTINGS``: steps, guidance, sway, seed, variations, duration) stops
the whole run before any model loads, naming the file, the line and the field, as a mistyped
flag does. Unknown fields are reported once per field.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..conditioning.prompt import TAGS, VIEWS, compose_views, validate_prompt
from ..pipeline import frames_for_duration
from ..sampling.settings import SETTINGS

LATENT_FRAME_RATE = 25  # Dasheng-AudioGen: 16000 Hz / 640 samples per latent frame
SETTING_FIELDS = ("duration", "seed", "variations", "steps", "guidance", "sway")
OFFICIAL_FIELDS = ("audio_id", "content", "category", "audio")
KNOWN_FIELDS = ("prompt", *VIEWS, "name", *SETTING_FIELDS, *OFFICIAL_FIELDS)
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\<>:"|?*]')
_MAX_NAME = 120


class JobsFileError(ValueError):
    """The jobs file as a whole cannot be used (missing, unreadable, no jobs at all, or a
    setting out of the limits)."""


class _SettingError(ValueError):
    """A line's setting that SETTINGS refuses: stops the run, unlike a bad line."""


@dataclass(frozen=True)
class JobDefaults:
    """Settings for jobs that do not set them (the batch command's options)."""

    duration_s: float | None = None
    seed: int = SETTINGS.seed
    variations: int = SETTINGS.variations
    steps: int = SETTINGS.steps
    guidance: float = SETTINGS.guidance
    sway: float = SETTINGS.sway


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
            jobs.append(_job(line, row, defaults, f"{path.name} line {line}: "))
        except _SettingError as exc:
            raise JobsFileError(f"{exc}; fix the line, then run again") from None
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


def _job(line: int, row: dict, defaults: JobDefaults, where: str) -> Job:
    """``where`` ("jobs.jsonl line 3: ") starts the message of a setting out of the limits."""
    settings = {key: _setting(row.get(key), key, where) for key in SETTING_FIELDS}
    return Job(
        line=line,
        name=_name(row.get("name", row.get("audio_id")), line),
        prompt=_prompt(row),
        seed=defaults.seed if settings["seed"] is None else settings["seed"],
        duration_s=defaults.duration_s if row.get("duration") is None else settings["duration"],
        variations=settings["variations"] or defaults.variations,
        steps=settings["steps"] or defaults.steps,
        guidance=defaults.guidance if settings["guidance"] is None else settings["guidance"],
        sway=defaults.sway if settings["sway"] is None else settings["sway"],
    )


def _setting(value: object, key: str, where: str) -> int | float | None:
    """A line's setting checked with SETTINGS (None when the line leaves it unset)."""
    if value is None:
        return None
    name = f"{where}{key}"
    try:
        number = _as_number(value, name)
        if key in ("seed", "variations", "steps") and float(number).is_integer():
            number = int(number)
        if key == "seed":
            if SETTINGS.check_seed(number, name) is None:
                raise ValueError(
                    f"{name} must be between 0 and 2**64 - 1 in a batch run (files are remade "
                    f"from their seed), got {number}"
                )
            return number
        checked = getattr(SETTINGS, f"check_{key}")(number, name)
        if key == "duration":
            frames_for_duration(checked, LATENT_FRAME_RATE)  # at least one latent frame
        return checked
    except (TypeError, ValueError) as exc:
        message = str(exc)
        raise _SettingError(message if message.startswith(where) else f"{where}{message}") from None


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


def _as_number(value: object, name: str) -> int | float:
    """JSON numbers as they are, CSV cells (text) read as numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"{name} must be a number, got {value!r}") from None
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
