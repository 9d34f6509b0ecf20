"""The three models from audiogen.cpp's GGUF files, through the same model specs.

``loaders.load_model`` hands a ``.gguf`` path here. The spec builds and finishes the model as
for a snapshot folder; what differs is where the config comes from (the file's metadata), the
operations (their Linear layers may keep GGML blocks), how the weights are read
(``gguf.GGUFCheckpoint``), and the tokenizers: the text encoder's is the ``tokenizer.json``
beside the file, else the ``spiece.model`` beside it (converted once, as for mt5-large); the
generator's file bundles none.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from ..models.ops import resolve_operations, storage_dtypes
from ..models.quantized import with_quantized_linear
from .config import check_config_fields
from .errors import WeightsError
from .gguf import GGUFError, open_gguf
from .gguf_layout import INSTRUCTION_LENGTHS_KEY, SPIECE_FILE
from .loaders import GENERATOR_SPEC, TEXT_ENCODER_SPEC, LoadRequest, ModelSpec
from .state_dict import build_on_meta

# The set as audiogen.cpp publishes it, for messages.
GGUF_REPO = "audiohacking/dasheng-audiogen-gguf"


def load_gguf_model(spec: ModelSpec, request: LoadRequest) -> Any:
    """Load the model ``spec`` declares from the GGUF file ``request.folder``."""
    path = request.folder
    role = spec.kind(path).role
    if role == "audio_tokenizer" and request.include_encoder:
        raise GGUFError(
            f"{path} is audiogen.cpp's vocoder: it holds only the audio tokenizer's decode path, "
            "so it cannot encode audio (Audio Encode, editing or continuing a clip). Use the "
            "official safetensors audio tokenizer (mispeech/dashengtokenizer) for that."
        )
    checkpoint = open_gguf(path, role)
    config = checkpoint.config()
    check_config_fields(path, config, role)
    extras = _extras(spec, request, config)
    operations = with_quantized_linear(
        resolve_operations(request.operations, request.dtype, request.weight_dtype)
    )
    try:
        model = build_on_meta(lambda: spec.build(config, operations, request, extras))
    except ValueError as exc:
        raise GGUFError(f"{path}: {exc}; convert the file again.") from exc
    extra_tensors = {}
    if spec is GENERATOR_SPEC:  # audiogen.cpp keeps this buffer as metadata
        lengths = [checkpoint.metadata[INSTRUCTION_LENGTHS_KEY]]
        extra_tensors["instruction_lengths"] = torch.tensor(lengths, dtype=torch.long)
    checkpoint.load_into(
        model,
        request.device,
        request.dtype,
        dtypes=storage_dtypes(model, request.dtype, request.weight_dtype),
        extra=extra_tensors,
    )
    return spec.finish(model, config, request, extras)


def _extras(spec: ModelSpec, request: LoadRequest, config: dict) -> dict:
    """What the spec reads besides the weights, from the folder the file lies in."""
    if spec is GENERATOR_SPEC:
        return {"tokenizer": None}  # dit*.gguf bundles no tokenizer: the text encoder's is used
    if spec is not TEXT_ENCODER_SPEC:
        return spec.extras(request, config)
    folder = request.folder.parent
    tokenizer = request.tokenizer_file or folder / "tokenizer.json"
    if not tokenizer.is_file() and (request.tokenizer_file or not (folder / SPIECE_FILE).is_file()):
        missing = tokenizer if request.tokenizer_file else folder / SPIECE_FILE
        raise WeightsError(
            f"{missing} is missing: the text encoder {request.folder.name} needs the "
            f"{SPIECE_FILE} of audiogen.cpp's set (or a tokenizer.json) beside it.\n"
            f"Download it with: hf download {GGUF_REPO} {SPIECE_FILE} --local-dir {folder}"
        )
    return spec.extras(replace(request, folder=folder), config)
