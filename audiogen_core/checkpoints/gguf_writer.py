"""Writing audiogen.cpp's GGUF file set from the official safetensors snapshots.

The files are, name for name, key for key and tensor for tensor, what audiogen.cpp's
converters write from the same snapshots (see ``gguf_layout``): the same architectures and
metadata (in the same order), the same tensor names, shapes and GGML types in the same order,
quantized with the ``gguf`` package's own Q8_0 / Q4_0 quantizer. audiogen.cpp runs them, and
this package reads them back.

Nothing is overwritten and nothing half-written is left behind: every file is written to a
temporary name inside the target folder, and renamed into place only once all of them are
complete. The source tensors are read one at a time and streamed to the file, so converting
needs about one tensor's worth of memory, not a model's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..models.generator import generator_text_encoder_family
from ..models.ops import to_storage
from .config import read_config
from .gguf import GGUFError, import_gguf
from .gguf_layout import (
    GENERATOR_FILE_NAMES,
    GENERATOR_FILES,
    INSTRUCTION_LENGTHS_KEY,
    LAYOUTS,
    QUANT_BLOCK,
    QUANT_CHOICES,
    SPIECE_FILE,
    T5_MODEL_TYPE_KEY,
    TEXT_ENCODER_FILE,
    TEXT_ENCODER_NAME_KEY,
    VOCODER_FILE,
    GGUFLayout,
    gguf_tensor_names,
    stored_type,
)
from .safetensors import SafetensorsCheckpoint
from .snapshots import (
    AUDIO_TOKENIZER,
    GENERATOR,
    TEXT_ENCODER,
    text_encoder_family,
    text_encoder_kind,
)
from .weight_files import safetensors_files

_NUMPY = {"F32": np.float32, "F16": np.float16}
_BLOCK_BYTES = {"Q8_0": 34, "Q4_0": 18}
# Tokenizer files copied beside the GGUF files when the text encoder snapshot has them:
# spiece.model is part of audiogen.cpp's set; tokenizer.json is read first by this package.
_TOKENIZER_FILES = (SPIECE_FILE, "tokenizer.json")


@dataclass(frozen=True)
class _PlannedTensor:
    key: str  # official key
    name: str  # GGUF name
    ggml_type: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        numel = 1
        for size in self.shape:
            numel *= size
        if self.ggml_type in _BLOCK_BYTES:
            return numel // QUANT_BLOCK * _BLOCK_BYTES[self.ggml_type]
        return numel * np.dtype(_NUMPY[self.ggml_type]).itemsize


@dataclass
class _PlannedFile:
    name: str
    layout: GGUFLayout
    metadata: list[tuple[str, str, object]]  # (key, kind, value) in writing order
    tensors: list[_PlannedTensor]
    checkpoint: SafetensorsCheckpoint


@dataclass
class GGUFSetPlan:
    """A checked conversion: what will be written where, before anything is."""

    out_dir: Path
    files: list[_PlannedFile]
    copies: list[Path]  # tokenizer files copied beside

    @property
    def targets(self) -> list[Path]:
        names = [plan.name for plan in self.files] + [path.name for path in self.copies]
        return [self.out_dir / name for name in names]

    @property
    def total_bytes(self) -> int:
        """Bytes of tensor data to write (for a progress bar)."""
        return sum(t.nbytes for plan in self.files for t in plan.tensors)

    def write(self, progress: Callable[[int], None] | None = None) -> list[Path]:
        """Write the files; ``progress`` gets the number of tensor bytes written so far.

        Each file is written under a temporary folder inside the target folder (the same
        file system), and all are renamed into place once every one is complete.
        """
        gguf = import_gguf()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            if progress is not None:
                progress(done)

        with _staging(self.out_dir) as stage:
            for plan in self.files:
                _write_file(gguf, stage / plan.name, plan, advance)
            for source in self.copies:
                shutil.copyfile(source, stage / source.name)
            _refuse_existing(self.out_dir, self.targets)  # nothing appeared meanwhile
            for path in self.targets:
                os.replace(stage / path.name, path)
        return self.targets


def plan_gguf_set(
    generator_dir: Path,
    text_encoder_dir: Path,
    audio_tokenizer_dir: Path,
    out_dir: Path,
    quant: str,
) -> GGUFSetPlan:
    """Check everything for writing the set for ``quant`` ("f32", "f16", "q8_0", "q4_0") into
    ``out_dir``: the three snapshots (configs, weight files, every tensor the set needs),
    spiece.model, and that none of the files exists in ``out_dir`` yet."""
    if quant not in QUANT_CHOICES:
        raise GGUFError(f"unknown quantization {quant!r}: use one of {', '.join(QUANT_CHOICES)}")
    import_gguf()
    files = [
        _plan_text_encoder(Path(text_encoder_dir)),
        _plan_generator(Path(generator_dir), quant),
        _plan_audio_tokenizer(Path(audio_tokenizer_dir), quant),
    ]
    copies = [Path(text_encoder_dir) / name for name in _TOKENIZER_FILES]
    copies = [path for path in copies if path.is_file()]
    if not any(path.name == SPIECE_FILE for path in copies):
        raise GGUFError(
            f"{text_encoder_dir} has no {SPIECE_FILE}, which audiogen.cpp's set includes (its "
            f"tokenizer). Download it with: hf download {TEXT_ENCODER.repo_id} {SPIECE_FILE} "
            f"--local-dir {text_encoder_dir}"
        )
    plan = GGUFSetPlan(Path(out_dir), files, copies)
    _refuse_existing(plan.out_dir, plan.targets)
    return plan


def _refuse_existing(out_dir: Path, targets: list[Path]) -> None:
    existing = [path for path in targets if path.exists() or path.is_symlink()]
    # Another DiT variant beside the new one would make the folder ambiguous to load.
    names = {path.name for path in targets}
    existing += [
        out_dir / name
        for name in GENERATOR_FILE_NAMES
        if name not in names and (out_dir / name).exists()
    ]
    if existing:
        raise GGUFError(
            f"{out_dir} already holds {', '.join(p.name for p in existing)}; nothing was written. "
            "Choose an empty folder or move those files away first."
        )


def write_gguf_set(
    generator_dir: Path,
    text_encoder_dir: Path,
    audio_tokenizer_dir: Path,
    out_dir: Path,
    quant: str,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """:func:`plan_gguf_set`, then write it; returns the written paths."""
    plan = plan_gguf_set(generator_dir, text_encoder_dir, audio_tokenizer_dir, out_dir, quant)
    return plan.write(progress)


@contextmanager
def _staging(out_dir: Path) -> Iterator[Path]:
    """A temporary folder inside ``out_dir`` (same file system, so renames are atomic),
    removed with whatever it still holds."""
    stage = Path(tempfile.mkdtemp(prefix=".convert-", dir=out_dir))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _tensor_plan(
    role: str, checkpoint: SafetensorsCheckpoint, quant: str, source: Path, num_layers: int = 0
) -> list[_PlannedTensor]:
    stored = set(checkpoint.keys())
    pairs = gguf_tensor_names(role, list(stored), num_layers)
    missing = [key for key, _ in pairs if key not in stored]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise GGUFError(
            f"{source} lacks tensors the GGUF file needs ({shown}); download the complete "
            "official snapshot again."
        )
    plan = []
    for key, name in pairs:
        if not checkpoint.is_floating(key):
            raise GGUFError(f"{source}: tensor {key!r} holds integers, expected floats.")
        shape = checkpoint.shape(key)
        plan.append(_PlannedTensor(key, name, stored_type(role, key, shape, quant), shape))
    return plan


def _metadata(layout: GGUFLayout, config: dict, source: Path) -> list[tuple[str, str, object]]:
    entries = []
    for entry in layout.metadata:
        if not entry.config_key:
            continue
        if entry.config_key not in config:
            raise GGUFError(f"{source}/config.json has no {entry.config_key!r} entry.")
        entries.append((entry.key, entry.kind, config[entry.config_key]))
    return entries


def _plan_generator(folder: Path, quant: str) -> _PlannedFile:
    config = read_config(folder, GENERATOR)
    checkpoint = SafetensorsCheckpoint(safetensors_files(folder))
    layout = LAYOUTS["generator"]
    metadata = _metadata(layout, config, folder)
    if "instruction_lengths" not in set(checkpoint.keys()):
        raise GGUFError(f"{folder} lacks the instruction_lengths tensor; download it again.")
    lengths = _read(checkpoint, "instruction_lengths", None)
    metadata.append((INSTRUCTION_LENGTHS_KEY, "int32", int(lengths.reshape(-1)[0])))
    if generator_text_encoder_family(config) != "t5":
        metadata.append((TEXT_ENCODER_NAME_KEY, "string", str(config["text_encoder_name"])))
    tensors = _tensor_plan("generator", checkpoint, quant, folder)
    return _PlannedFile(GENERATOR_FILES[quant], layout, metadata, tensors, checkpoint)


def _plan_text_encoder(folder: Path) -> _PlannedFile:
    config = read_config(folder, text_encoder_kind(folder))
    config = {"relative_attention_max_distance": 128, "layer_norm_epsilon": 1e-6, **config}
    checkpoint = SafetensorsCheckpoint(safetensors_files(folder))
    layout = LAYOUTS["text_encoder"]
    tensors = _tensor_plan("text_encoder", checkpoint, "f32", folder, int(config["num_layers"]))
    metadata = _metadata(layout, config, folder)
    if text_encoder_family(config) != "t5":
        metadata.append((T5_MODEL_TYPE_KEY, "string", "mt5"))
    return _PlannedFile(TEXT_ENCODER_FILE, layout, metadata, tensors, checkpoint)


def _plan_audio_tokenizer(folder: Path, quant: str) -> _PlannedFile:
    config = read_config(folder, AUDIO_TOKENIZER)
    checkpoint = SafetensorsCheckpoint(safetensors_files(folder))
    layout = LAYOUTS["audio_tokenizer"]
    tensors = _tensor_plan("audio_tokenizer", checkpoint, quant, folder)
    return _PlannedFile(
        VOCODER_FILE, layout, _metadata(layout, config, folder), tensors, checkpoint
    )


def _write_file(gguf, path: Path, plan: _PlannedFile, advance: Callable[[int], None]) -> None:
    writer = gguf.GGUFWriter(str(path), plan.layout.architecture)
    writer.add_name(plan.layout.general_name)
    adders = {
        "int32": lambda k, v: writer.add_int32(k, int(v)),
        "float32": lambda k, v: writer.add_float32(k, float(v)),
        "string": lambda k, v: writer.add_string(k, str(v)),
        "bool": lambda k, v: writer.add_bool(k, bool(v)),
    }
    for key, kind, value in plan.metadata:
        adders[kind](key, value)
    for tensor in plan.tensors:
        if tensor.ggml_type in _BLOCK_BYTES:
            raw = gguf.GGMLQuantizationType[tensor.ggml_type]
            rows = tensor.shape[:-1]
            byte_shape = (*rows, tensor.shape[-1] // QUANT_BLOCK * _BLOCK_BYTES[tensor.ggml_type])
            writer.add_tensor_info(tensor.name, byte_shape, np.dtype(np.uint8), tensor.nbytes, raw)
        else:
            dtype = np.dtype(_NUMPY[tensor.ggml_type])
            writer.add_tensor_info(tensor.name, tensor.shape, dtype, tensor.nbytes)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in plan.tensors:
        writer.write_tensor_data(_encode(gguf, plan, tensor))
        advance(tensor.nbytes)
    writer.close()


def _encode(gguf, plan: _PlannedFile, tensor: _PlannedTensor) -> np.ndarray:
    values = _read(plan.checkpoint, tensor.key, torch.float32)
    if tensor.ggml_type == "F32":
        return values.numpy()
    if tensor.ggml_type == "F16":
        try:  # fp16 overflows to inf past 65504: refuse rather than write a broken weight
            return to_storage(values, torch.float16, tensor.key).numpy()
        except ValueError as exc:
            raise GGUFError(f"{exc}; write f32 or a quantized file instead") from exc
    raw = gguf.GGMLQuantizationType[tensor.ggml_type]
    return gguf.quants.quantize(values.numpy(), raw)


def _read(checkpoint: SafetensorsCheckpoint, key: str, dtype: torch.dtype | None) -> torch.Tensor:
    """One tensor on the CPU (floats converted to ``dtype``; None: as stored)."""
    return checkpoint.read({key: dtype}, torch.device("cpu"))[key]
