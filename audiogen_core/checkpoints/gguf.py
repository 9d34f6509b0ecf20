"""Reading audiogen.cpp's GGUF files: checks, official key names, configs, and loading.

A GGUF file is opened with the ``gguf`` package (llama.cpp's reader) for its header only: the
metadata, and each tensor's name, GGML type, shape and offset. The tensor data is then read
with plain file reads into memory the process owns, one tensor at a time, as the safetensors
loader does: the reader's memory map would keep every page it ever touched resident.

Everything that can be wrong with a file is checked before any tensor is read: the GGUF header,
the architecture (which of the three files it is), every metadata key the config is rebuilt
from, tensor types (F32, F16, BF16, Q8_0 and Q4_0; K-quants and IQ types are refused), tensor
names, and that the file is as long as its tensors need (a cut-short download). Shapes are
checked against the model built from the metadata.

Quantized (Q8_0 / Q4_0) matrices of Linear layers stay in their blocks (see
``models.quantized``); any other quantized tensor is expanded once while loading. Float
tensors load as from safetensors: converted to the storage dtype, so an F32 file gives the
same weights, bit for bit, as the official safetensors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..models.derived_buffers import reset_derived_buffers
from ..models.ops import to_storage
from ..models.quantized import BLOCK_FORMATS, QuantizedLinearMixin, dequantize, hold_blocks
from .errors import WeightsError
from .gguf_layout import (
    BLOCK_TYPES,
    FLOAT_TYPES,
    LAYOUT_BY_ARCHITECTURE,
    LAYOUTS,
    T5_MODEL_TYPE_KEY,
    TEXT_ENCODER_NAME_KEY,
    GGUFLayout,
    official_key,
)
from .state_dict import mismatch_message, optional_keys

INSTALL_HINT = 'pip install "gguf>=0.13"'
ARCHITECTURE_KEY = "general.architecture"
# Config values audiogen.cpp's generator file does not carry; none of them changes inference
# (dropouts, a training-time gradient scale), and the official config.json has these values.
_GENERATOR_DEFAULTS: dict[str, Any] = {
    "model_type": "dasheng_audiogen",
    "architectures": ["DashengAudioGenModel"],
    "text_encoder_name": "google/flan-t5-large",
    "tokenizer_name": "mispeech/dashengtokenizer",
    "adapter_dropout": 0.2,
    "adapter_duration_grad_scale": 0.1,
    "duration_predictor_p_dropout": 0.5,
    "special_tokens": [],
    "train_special_tokens": False,
}
# The audio tokenizer's encoder sizes: not in vocoder.gguf, which holds the decode path only;
# the official values, so the config is complete (no encoder is built from a GGUF file).
_AUDIO_TOKENIZER_DEFAULTS: dict[str, Any] = {
    "model_type": "dashengtokenizer",
    "architectures": ["DashengTokenizerModel"],
    "depth": 12,
    "num_heads": 16,
    "n_mels_patch": 128,
}
# flan-t5 and mt5 both use the gated GELU feed-forward; the text encoder file does not say.
_TEXT_ENCODER_DEFAULTS: dict[str, Any] = {
    "architectures": ["T5ForConditionalGeneration"],
    "feed_forward_proj": "gated-gelu",
    "is_gated_act": True,
    "dense_act_fn": "gelu_new",
    "n_positions": 512,
}
# A vocabulary this large is mT5's (250,112 rows); flan-t5 has 32,128.
_MT5_MIN_VOCAB = 200_000


class GGUFError(WeightsError):
    """A GGUF file is missing, damaged, of another model, or uses a type this loader lacks."""


def import_gguf():
    """The ``gguf`` package, or an error saying how to install it."""
    try:
        import gguf
    except ImportError as exc:
        raise GGUFError(
            "Reading and writing GGUF files needs the gguf package (llama.cpp's): "
            f"`{INSTALL_HINT}` (or install this pack with its [gguf] extra)."
        ) from exc
    return gguf


@dataclass(frozen=True)
class GGUFTensor:
    """Where one tensor's data lies in the file, and how it is stored."""

    name: str  # as in the file
    ggml_type: str  # "F32", "F16", "BF16", "Q8_0", "Q4_0"
    shape: tuple[int, ...]  # torch order (GGUF lists dimensions the other way round)
    offset: int  # absolute byte offset
    nbytes: int

    @property
    def quantized(self) -> bool:
        return self.ggml_type in BLOCK_TYPES


@dataclass(frozen=True)
class GGUFCheckpoint:
    """One checked GGUF file of audiogen.cpp's set: metadata and tensors by official key."""

    path: Path
    layout: GGUFLayout
    metadata: dict[str, Any]
    tensors: dict[str, GGUFTensor]

    def config(self) -> dict[str, Any]:
        """The config.json the official snapshot would have, rebuilt from the metadata."""
        values = {
            entry.config_key: self.metadata[entry.key]
            for entry in self.layout.metadata
            if entry.config_key
        }
        role = self.layout.role
        if role == "generator":
            config = {**_GENERATOR_DEFAULTS, **values}
            if TEXT_ENCODER_NAME_KEY in self.metadata:
                config["text_encoder_name"] = str(self.metadata[TEXT_ENCODER_NAME_KEY])
            return config
        if role == "audio_tokenizer":
            return {**_AUDIO_TOKENIZER_DEFAULTS, **values}
        family = self.metadata.get(T5_MODEL_TYPE_KEY) or (
            "mt5" if values["vocab_size"] >= _MT5_MIN_VOCAB else "t5"
        )
        return {**_TEXT_ENCODER_DEFAULTS, "model_type": family, **values}

    def load_into(
        self,
        model: nn.Module,
        device: torch.device,
        dtype: torch.dtype,
        dtypes: Mapping[str, torch.dtype] | None = None,
        extra: Mapping[str, torch.Tensor] | None = None,
    ) -> nn.Module:
        """Fill a meta-device ``model`` from this file, checking every key and shape first.

        ``extra`` holds tensors the file keeps as metadata (the generator's instruction
        lengths). Block-quantized Linear weights stay in their blocks (the model is built with
        ``models.quantized.with_quantized_linear`` operations); every other tensor is converted
        to ``dtypes[key]`` (else ``dtype``), as the safetensors loader does.
        """
        expected = model.state_dict(keep_vars=True)
        extra = dict(extra or {})
        self._check_keys(model, expected, extra)
        state: dict[str, torch.Tensor] = {}
        for key, target in expected.items():
            storage = (dtypes or {}).get(key, dtype)
            if key in extra:
                state[key] = extra[key].to(device)
            elif key in self.tensors:
                tensor = self.tensors[key]
                layer = _block_holder(model, key) if tensor.quantized else None
                if layer is not None:
                    blocks = self.read(key).to(device)
                    hold_blocks(layer, blocks, BLOCK_FORMATS[tensor.ggml_type])
                else:
                    state[key] = self._float_tensor(key, storage).to(device)
            else:  # optional: a placeholder that reset_derived_buffers() overwrites
                placeholder = storage if target.dtype.is_floating_point else target.dtype
                state[key] = torch.zeros(target.shape, dtype=placeholder, device=device)
        model.load_state_dict(state, strict=False, assign=True)
        reset_derived_buffers(model)
        return model.eval().requires_grad_(False)

    def _check_keys(
        self, model: nn.Module, expected: Mapping[str, torch.Tensor], extra: Mapping
    ) -> None:
        available = set(self.tensors) | set(extra)
        optional = optional_keys(model)
        missing = sorted(k for k in expected if k not in available and k not in optional)
        unexpected = sorted(k for k in available if k not in expected)
        mismatched = []
        for key in sorted(available & set(expected)):
            shape = self.tensors[key].shape if key in self.tensors else tuple(extra[key].shape)
            if shape != tuple(expected[key].shape):
                mismatched.append(f"{key}: file {list(shape)}, model {list(expected[key].shape)}")
            elif key in self.tensors and not expected[key].is_floating_point():
                mismatched.append(f"{key}: file holds floats, model needs integers")
        if missing or unexpected or mismatched:
            message = mismatch_message(str(self.path), missing, unexpected, mismatched)
            raise GGUFError(
                message.replace("config.json", "metadata").split("\nMake sure")[0]
                + "\nThe file does not match its own metadata: it is damaged or was written by "
                "another tool. Download it again, or convert it again with "
                "`python -m audiogen_core convert --to gguf`."
            )

    def _float_tensor(self, key: str, storage: torch.dtype) -> torch.Tensor:
        tensor = self.tensors[key]
        data = self.read(key)
        if tensor.quantized:  # a block tensor outside a Linear: expanded once, here
            fmt = BLOCK_FORMATS[tensor.ggml_type]
            return dequantize(data, fmt, tensor.shape, torch.float32).to(storage)
        if data.dtype == storage:
            return data
        try:
            return to_storage(data, storage, key)
        except ValueError as exc:
            raise GGUFError(f"{self.path}: {exc}") from exc

    def read(self, key: str) -> torch.Tensor:
        """The stored bytes of ``key`` as a tensor the caller owns: float types with their
        dtype and shape, block types as uint8 rows of blocks."""
        tensor = self.tensors[key]
        data = torch.empty(tensor.nbytes, dtype=torch.uint8)
        view = memoryview(data.numpy()).cast("B")
        done = 0
        try:
            with open(self.path, "rb", buffering=0) as handle:
                handle.seek(tensor.offset)
                while done < tensor.nbytes:
                    count = handle.readinto(view[done:])
                    if not count:
                        break
                    done += count
        except OSError as exc:
            raise GGUFError(f"could not read {self.path} ({exc}); download it again.") from exc
        if done != tensor.nbytes:
            raise GGUFError(_truncated(self.path))
        if tensor.quantized:
            rows = math.prod(tensor.shape[:-1])
            return data.view(rows, -1)
        return data.view(FLOAT_TYPES[tensor.ggml_type]).view(tensor.shape)


def _truncated(path: Path) -> str:
    return (
        f"{path} ends before its tensors do: the file is cut short (an interrupted download "
        "or copy). Delete it and download it again."
    )


def _field_value(gguf, field) -> Any:
    kinds = field.types
    if not kinds or kinds[0] == gguf.GGUFValueType.ARRAY:
        return None  # arrays are never read here
    part = field.parts[field.data[0]]
    if kinds[0] == gguf.GGUFValueType.STRING:
        return bytes(part).decode("utf-8", errors="replace")
    value = part[0]
    if kinds[0] == gguf.GGUFValueType.BOOL:
        return bool(value)
    if kinds[0] in (gguf.GGUFValueType.FLOAT32, gguf.GGUFValueType.FLOAT64):
        return float(value)
    return int(value)


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int32"
    if isinstance(value, float):
        return "float32"
    return "string" if isinstance(value, str) else "array"


def open_gguf(path: Path | str, role: str) -> GGUFCheckpoint:
    """Open and check one file of audiogen.cpp's set for ``role`` ("generator",
    "text_encoder" or "audio_tokenizer"); raises GGUFError saying what is wrong and what to do."""
    path = Path(path)
    layout = LAYOUTS[role]
    if not path.is_file():
        raise GGUFError(
            f"The {layout.description} file {path} does not exist. Download audiogen.cpp's files "
            "(`hf download audiohacking/dasheng-audiogen-gguf --local-dir <folder>`) or write "
            "them with `python -m audiogen_core convert --to gguf`."
        )
    gguf = import_gguf()
    size = path.stat().st_size
    try:
        reader = gguf.GGUFReader(str(path))
    except (ValueError, KeyError, IndexError, OSError) as exc:
        raise GGUFError(
            f"{path} is not a readable GGUF file ({exc}). It is probably cut short or damaged: "
            "delete it and download it again."
        ) from exc
    try:
        return _check(gguf, reader, path, size, layout)
    finally:
        del reader  # drops the memory map before any tensor is read


def _check(gguf, reader, path: Path, size: int, layout: GGUFLayout) -> GGUFCheckpoint:
    metadata = {name: _field_value(gguf, field) for name, field in reader.fields.items()}
    architecture = metadata.get(ARCHITECTURE_KEY)
    if architecture != layout.architecture:
        other = LAYOUT_BY_ARCHITECTURE.get(architecture)
        if other is not None:
            raise GGUFError(
                f"{path} holds audiogen.cpp's {other.description}, not the "
                f"{layout.description}; give it where the {other.role.replace('_', ' ')} is "
                "expected."
            )
        raise GGUFError(
            f"{path} is a GGUF file of architecture {architecture!r}, not one of audiogen.cpp's "
            f"Dasheng-AudioGen files (the {layout.description} has {layout.architecture!r}). "
            "Use the files of audiohacking/dasheng-audiogen-gguf or write them with "
            "`python -m audiogen_core convert --to gguf`."
        )
    for entry in layout.metadata:
        if entry.key not in metadata:
            raise GGUFError(
                f"{path} lacks the metadata key {entry.key!r}, which the model is built from; "
                "the file is incomplete or from an older converter. Convert it again with "
                "`python -m audiogen_core convert --to gguf` or download it again."
            )
        found = _kind_of(metadata[entry.key])
        wanted = entry.kind
        if found != wanted and not (wanted == "float32" and found == "int32"):
            raise GGUFError(
                f"{path}: metadata {entry.key!r} must be a {wanted} value, got {found} "
                f"{metadata[entry.key]!r}; convert the file again."
            )
    tensors: dict[str, GGUFTensor] = {}
    for item in reader.tensors:
        type_name = gguf.GGMLQuantizationType(int(item.tensor_type)).name
        if type_name not in FLOAT_TYPES and type_name not in BLOCK_TYPES:
            supported = ", ".join([*FLOAT_TYPES, *BLOCK_TYPES])
            raise GGUFError(
                f"{path}: tensor {item.name!r} is stored as {type_name}, which this loader does "
                f"not read (supported: {supported}). Use audiogen.cpp's published F16, Q8_0 or "
                "Q4_0 files, or write them with `python -m audiogen_core convert --to gguf "
                "--quant q8_0` (or q4_0, f16) from the official safetensors."
            )
        key = official_key(layout.role, item.name)
        if key is None:
            raise GGUFError(
                f"{path}: tensor {item.name!r} is not part of audiogen.cpp's "
                f"{layout.description}; the file was written by another tool. Convert it again."
            )
        shape = tuple(int(n) for n in reversed(item.shape.tolist()))
        offset, nbytes = int(item.data_offset), int(item.n_bytes)
        if offset + nbytes > size:
            raise GGUFError(_truncated(path))
        tensors[key] = GGUFTensor(item.name, type_name, shape, offset, nbytes)
    return GGUFCheckpoint(path, layout, metadata, tensors)


def _block_holder(model: nn.Module, key: str) -> nn.Module | None:
    """The Linear that keeps ``key`` (its ``weight``) in blocks, if it can."""
    module_name, _, name = key.rpartition(".")
    if name != "weight":
        return None
    layer = model.get_submodule(module_name)
    return layer if isinstance(layer, QuantizedLinearMixin) else None
