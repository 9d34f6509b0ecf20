"""Which files of a snapshot folder hold its weights, and refusing the ones that must not be opened.

Pickle formats (.bin, .pt, .ckpt, .pth) are never opened: unpickling can run arbitrary code,
and a pickle renamed to .safetensors is recognised by its first bytes. A path that is not a
regular file (a named pipe, a device) is refused before it is opened, since opening or
reading one can block forever. Symbolic-link loops are named as such instead of reading as
"missing".
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path, PurePath

from .download import include_arguments
from .errors import WeightsError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
INDEX_FILE = "model.safetensors.index.json"
# First bytes of the pickle formats that are sometimes renamed to .safetensors: torch.save's
# zip archive, and a bare pickle (protocol 2 and later start with the PROTO opcode 0x80).
_PICKLE_MAGIC = (
    (b"PK\x03\x04", "a zip archive (torch.save's pickle format)"),
    *((bytes([0x80, protocol]), f"a pickle (protocol {protocol})") for protocol in range(2, 6)),
)
_NOT_REGULAR = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def refuse_pickle_suffix(path: Path) -> None:
    """A file named like a pickle checkpoint is refused by name, never opened."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise WeightsError(
            f"{path} is a pickle checkpoint ({path.suffix}); it is never loaded because "
            "unpickling can run arbitrary code. Use the official safetensors files instead "
            f"(`hf download <repo> --include {include_arguments()}`)."
        )


def refuse_link_loop(path: Path) -> None:
    """A symbolic link that loops (or chains too deep) reads as "missing" everywhere; say so."""
    if not path.is_symlink():
        return
    try:
        path.resolve(strict=True)
    except FileNotFoundError:
        return  # a dangling link: reported as missing by the caller
    except (OSError, RuntimeError) as exc:  # ELOOP; RuntimeError on older Pythons
        raise WeightsError(
            f"{path} is a symbolic link that points back to itself (a link loop); "
            "replace it with the real file or folder."
        ) from exc


def require_regular_file(path: Path) -> None:
    """Refuse, before opening it, a path that exists but is not a regular file.

    Opening a named pipe waits for a writer and reading a device may never end, so either
    would hang a load instead of failing it. A missing path is left to the caller's message.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise WeightsError(f"{path} cannot be read ({exc.strerror or exc}).") from exc
    for test, what in _NOT_REGULAR:
        if test(mode):
            raise WeightsError(
                f"{path} is {what}, not a regular file; weights and configs are read only "
                "from regular files. Replace it with the downloaded file."
            )


def safetensors_files(folder: Path) -> list[Path]:
    """The weight files of a snapshot: the shards of the index, or every *.safetensors file."""
    index = folder / INDEX_FILE
    require_regular_file(index)
    if index.is_file():
        files = [folder / name for name in index_shards(index)]
        missing = [f.name for f in files if not f.exists()]
        if missing:
            raise WeightsError(
                f"{folder} is missing shard(s) {', '.join(missing)} listed in "
                f"{INDEX_FILE}; finish the download."
            )
    else:
        files = sorted(folder.glob("*.safetensors"))
    for path in files:
        refuse_link_loop(path)
        require_regular_file(path)
    if not files:
        raise WeightsError(_no_weights_message(folder))
    for path in files:
        refuse_disguised_pickle(path)
    return files


def _no_weights_message(folder: Path) -> str:
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    hint = (
        f" It holds only pickle checkpoints ({', '.join(pickles)}), which are never "
        "loaded because unpickling can run arbitrary code."
        if pickles
        else ""
    )
    return (
        f"{folder} contains no .safetensors weights.{hint} Download the "
        "safetensors files of the official snapshot."
    )


def index_shards(index: Path) -> list[str]:
    """The shard names of a safetensors index, each a plain file name inside the folder."""
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{index} is not valid JSON ({exc}); download it again.") from exc
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict):
        raise WeightsError(
            f"{index}: 'weight_map' must be a JSON object mapping tensor names to shard files, "
            f"got {json_kind(weight_map)}; download the index again."
        )
    names = set()
    for key, name in weight_map.items():
        if not isinstance(name, str) or not name:
            raise WeightsError(
                f"{index}: the entry for {key!r} must be a shard file name, got {json.dumps(name)}."
            )
        # Shards live in the snapshot folder; an absolute path or ".." could point anywhere.
        parts = PurePath(name).parts
        if PurePath(name).is_absolute() or ".." in parts or os.path.isabs(name):
            raise WeightsError(
                f"{index}: the entry for {key!r} points outside the snapshot folder ({name!r}); "
                "shards must be files in the folder itself. Download the index again."
            )
        names.add(name)
    return sorted(names)


def refuse_disguised_pickle(path: Path) -> None:
    """A pickle renamed to .safetensors is refused for what it is, without unpickling it."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
    except OSError as exc:
        raise WeightsError(f"{path} cannot be read ({exc.strerror or exc}).") from exc
    if head[8:9] == b"{":
        return  # an 8-byte header length, then the JSON header: safetensors
    for magic, what in _PICKLE_MAGIC:
        if head.startswith(magic):
            raise WeightsError(
                f"{path} is {what}, not safetensors, despite its name; it is never loaded "
                "because unpickling can run arbitrary code. Download the official safetensors "
                "files instead."
            )


def json_kind(value: object) -> str:
    """What a JSON value is, in words, for messages about a value of the wrong type."""
    names = {list: "a list", str: "a string", type(None): "null", bool: "a boolean"}
    return names.get(type(value), "a number")
