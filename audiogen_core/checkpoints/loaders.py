"""The three models, declared as data, and the one function that loads any of them.

Each model kind is a :class:`ModelSpec`: which snapshot it reads, what its factory needs
besides the config (read and checked before any weight), how the module is built, which
checkpoint keys it may skip, and what the caller gets back. :func:`load_model` does the rest
the same way for all of them: read and check config.json, build on the meta device (no random
weights are allocated), read every tensor straight into its final device and storage dtype
(``safetensors.py``), and refuse any missing, unexpected or mis-shaped key
(``state_dict.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..models.audio_tokenizer import DashengAudioTokenizer
from ..models.generator import DashengAudioGenerator
from ..models.ops import resolve_operations, storage_dtypes
from ..models.text_encoder import T5Encoder, T5Tokenizer, TextEncoder
from .config import read_config
from .download import download_command
from .errors import WeightsError
from .gguf_layout import is_gguf
from .safetensors import SafetensorsCheckpoint
from .snapshots import (
    AUDIO_TOKENIZER,
    GENERATOR,
    SnapshotKind,
    text_encoder_family,
    text_encoder_kind,
)
from .spiece import SentencePieceConversionError, load_spiece_tokenizer
from .state_dict import build_on_meta, fill_model
from .weight_files import safetensors_files

# The longest prompt the T5 encoders attend to (their relative positions are trained to it).
MAX_TEXT_TOKENS = 512


@dataclass(frozen=True)
class LoadRequest:
    """One load: the snapshot folder, where and how to store the weights, model options."""

    folder: Path
    device: torch.device
    dtype: torch.dtype  # compute dtype
    weight_dtype: torch.dtype | None = None  # storage of the matrix weights; None: ``dtype``
    operations: Any = None  # layer classes; None: torch's, or cast-on-the-fly ones
    include_encoder: bool = True  # audio tokenizer: keep the encode path
    tokenizer_file: Path | None = None  # text encoder: a tokenizer.json elsewhere


@dataclass(frozen=True)
class ModelSpec:
    """How one kind of model is loaded (see the module docstring)."""

    name: str
    kind: Callable[[Path], SnapshotKind]  # the snapshot a folder must hold
    extras: Callable[[LoadRequest, dict], dict]  # read before the weights: tokenizers
    build: Callable[[dict, Any, LoadRequest, dict], nn.Module]  # config, operations, ...
    skipped_prefixes: Callable[[LoadRequest], tuple[str, ...]]  # checkpoint keys not loaded
    finish: Callable[[nn.Module, dict, LoadRequest, dict], Any]  # what the caller gets


def _no_extras(request: LoadRequest, config: dict) -> dict:
    return {}


def _skip_nothing(request: LoadRequest) -> tuple[str, ...]:
    return ()


def _as_built(model: nn.Module, config: dict, request: LoadRequest, extras: dict) -> nn.Module:
    return model


def _bundled_tokenizer(request: LoadRequest, config: dict) -> dict:
    # The reference prefers a tokenizer.json shipped with the generator over flan-t5's own.
    bundled = request.folder / "tokenizer.json"
    return {"tokenizer": T5Tokenizer.from_file(bundled) if bundled.is_file() else None}


def _build_generator(config: dict, operations, request: LoadRequest, extras: dict) -> nn.Module:
    return DashengAudioGenerator.from_config(
        config, operations, tokenizer=extras["tokenizer"], source_folder=request.folder
    )


def _build_audio_tokenizer(config: dict, operations, request: LoadRequest, extras: dict):
    return DashengAudioTokenizer.from_config(config, request.include_encoder, operations)


def _encoder_skipped(request: LoadRequest) -> tuple[str, ...]:
    return () if request.include_encoder else ("encoder.",)


def _text_tokenizer(request: LoadRequest, config: dict) -> dict:
    """The folder's tokenizer.json (flan-t5), else its spiece.model converted once (mt5-large
    ships no tokenizer.json; see spiece.py), else an error saying what to download."""
    folder = request.folder
    tokenizer_path = request.tokenizer_file or folder / "tokenizer.json"
    spiece_path = folder / "spiece.model"
    if not tokenizer_path.is_file() and (request.tokenizer_file or not spiece_path.is_file()):
        kind = text_encoder_kind(folder)
        raise WeightsError(
            f"{tokenizer_path} is missing: the text encoder needs the tokenizer.json (or "
            f"spiece.model) of {kind.repo_id}.\nDownload it with: {download_command(kind, folder)}"
        )
    if tokenizer_path.is_file():
        return {"tokenizer": T5Tokenizer.from_file(tokenizer_path)}
    try:
        return {"tokenizer": T5Tokenizer(load_spiece_tokenizer(folder))}
    except SentencePieceConversionError as exc:
        raise WeightsError(str(exc)) from exc


def _build_text_encoder(config: dict, operations, request: LoadRequest, extras: dict):
    return T5Encoder.from_config(config, operations)


def _text_encoder(model: nn.Module, config: dict, request: LoadRequest, extras: dict):
    max_length = int(config.get("n_positions", MAX_TEXT_TOKENS) or MAX_TEXT_TOKENS)
    return TextEncoder(
        model,
        extras["tokenizer"],
        max_length=min(max_length, MAX_TEXT_TOKENS),
        family=text_encoder_family(config),
        source_folder=request.folder,
    )


GENERATOR_SPEC = ModelSpec(
    name="generator",
    kind=lambda folder: GENERATOR,
    extras=_bundled_tokenizer,
    build=_build_generator,
    skipped_prefixes=_skip_nothing,
    finish=_as_built,
)
AUDIO_TOKENIZER_SPEC = ModelSpec(
    name="audio tokenizer",
    kind=lambda folder: AUDIO_TOKENIZER,
    extras=_no_extras,
    build=_build_audio_tokenizer,
    skipped_prefixes=_encoder_skipped,
    finish=_as_built,
)
TEXT_ENCODER_SPEC = ModelSpec(
    name="text encoder",
    kind=text_encoder_kind,
    extras=_text_tokenizer,
    build=_build_text_encoder,
    skipped_prefixes=_skip_nothing,
    finish=_text_encoder,
)


def load_model(spec: ModelSpec, request: LoadRequest) -> Any:
    """Load the model ``spec`` declares from ``request.folder`` (see the module docstring);
    a ``.gguf`` file (audiogen.cpp's) is read by ``gguf_loaders`` with the same spec."""
    if is_gguf(request.folder):
        from .gguf_loaders import load_gguf_model

        return load_gguf_model(spec, request)
    config = read_config(request.folder, spec.kind(request.folder))
    files = safetensors_files(request.folder)  # refused files fail before anything is built
    extras = spec.extras(request, config)
    operations = resolve_operations(request.operations, request.dtype, request.weight_dtype)
    model = build_on_meta(lambda: spec.build(config, operations, request, extras), request.folder)
    load_safetensors_into(
        model,
        files,
        request.device,
        request.dtype,
        ignored_prefixes=spec.skipped_prefixes(request),
        source=str(request.folder),
        dtypes=storage_dtypes(model, request.dtype, request.weight_dtype),
    )
    return spec.finish(model, config, request, extras)


def load_safetensors_into(
    model: nn.Module,
    files: Iterable[Path],
    device: torch.device,
    dtype: torch.dtype,
    ignored_prefixes: tuple[str, ...] = (),
    source: str = "",
    dtypes: Mapping[str, torch.dtype] | None = None,
) -> nn.Module:
    """Fill a meta-device ``model`` from safetensors files, checking every key and shape.

    Floating-point tensors are converted to ``dtypes[key]`` when given, else to ``dtype``;
    integer buffers keep their type. Raises WeightsError naming missing, unexpected and
    mis-shaped keys.
    """
    floating = {k for k, v in model.state_dict(keep_vars=True).items() if v.is_floating_point()}
    storage = {key: (dtypes or {}).get(key, dtype) for key in floating}
    checkpoint = SafetensorsCheckpoint(files)
    return fill_model(model, checkpoint, device, storage, ignored_prefixes, source)


def load_generator(
    folder: Path | str,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    operations=None,
    weight_dtype: torch.dtype | None = None,
) -> DashengAudioGenerator:
    """Load the Dasheng-AudioGen generator snapshot (config.json + safetensors).

    ``dtype`` is the compute dtype; ``weight_dtype`` (default: ``dtype``) stores the matrix
    weights, e.g. ``torch.float8_e4m3fn``. ``operations`` builds the layers (see
    :mod:`audiogen_core.models.ops`; default: torch's, or cast-on-the-fly ones when the two
    differ).
    """
    request = _request(folder, device, dtype, weight_dtype, operations)
    return load_model(GENERATOR_SPEC, request)


def load_audio_tokenizer(
    folder: Path | str,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    include_encoder: bool = True,
    *,
    operations=None,
    weight_dtype: torch.dtype | None = None,
) -> DashengAudioTokenizer:
    """Load the DashengTokenizer snapshot; without the encoder only the decode path is kept.

    ``dtype``, ``weight_dtype`` and ``operations`` as for :func:`load_generator`.
    """
    request = _request(folder, device, dtype, weight_dtype, operations)
    return load_model(AUDIO_TOKENIZER_SPEC, _with(request, include_encoder=include_encoder))


def load_text_encoder(
    folder: Path | str,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    tokenizer_file: Path | str | None = None,
    *,
    operations=None,
    weight_dtype: torch.dtype | None = None,
) -> TextEncoder:
    """Load the encoder half of flan-t5-large or mt5-large and its tokenizer.

    The tokenizer is the folder's tokenizer.json (flan-t5), else its spiece.model converted
    once (mt5-large ships no tokenizer.json; see spiece.py). ``dtype``, ``weight_dtype`` and
    ``operations`` as for :func:`load_generator`.
    """
    request = _request(folder, device, dtype, weight_dtype, operations)
    tokenizer = Path(tokenizer_file) if tokenizer_file else None
    return load_model(TEXT_ENCODER_SPEC, _with(request, tokenizer_file=tokenizer))


def _request(folder, device, dtype, weight_dtype, operations) -> LoadRequest:
    return LoadRequest(Path(folder), torch.device(device), dtype, weight_dtype, operations)


def _with(request: LoadRequest, **changes) -> LoadRequest:
    return replace(request, **changes)
