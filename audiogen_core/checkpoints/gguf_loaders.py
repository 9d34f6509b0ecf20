"""The three models from audiogen.cpp's GGUF files (the GGUF side of the loaders).

``load_generator``, ``load_text_encoder`` and ``load_audio_tokenizer`` hand a ``.gguf`` path
to these; each builds its model on the meta device from the config the file's metadata
rebuilds, with operations whose Linear layers can keep GGML blocks, and fills it with
``gguf.load_gguf_into``. The text encoder's tokenizer is the ``tokenizer.json`` beside the
file, else the ``spiece.model`` beside it (converted once, as for mt5-large).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..models.ops import resolve_operations, storage_dtypes
from ..models.quantized import with_quantized_linear
from .gguf import GGUFError, open_gguf
from .gguf_layout import INSTRUCTION_LENGTHS_KEY, SPIECE_FILE
from .weights import WeightsError, build_on_meta, text_encoder_family

# The set as audiogen.cpp publishes it, for messages.
GGUF_REPO = "audiohacking/dasheng-audiogen-gguf"


def _operations(operations, dtype: torch.dtype, weight_dtype: torch.dtype | None):
    return with_quantized_linear(resolve_operations(operations, dtype, weight_dtype))


def _build(factory, path: Path):
    """``build_on_meta`` with a refused config named after the file it came from."""
    try:
        return build_on_meta(factory)
    except ValueError as exc:
        raise GGUFError(f"{path}: {exc}; convert the file again.") from exc


def load_gguf_generator(
    path: Path,
    device: torch.device,
    dtype: torch.dtype,
    operations=None,
    weight_dtype: torch.dtype | None = None,
):
    """The generator from ``dit.gguf`` / ``dit_Q8_0.gguf`` / ``dit_Q4_0.gguf``."""
    from ..models.generator import DashengAudioGenerator

    checkpoint = open_gguf(path, "generator")
    config = checkpoint.config()
    ops = _operations(operations, dtype, weight_dtype)
    model = _build(lambda: DashengAudioGenerator.from_config(config, ops, source_folder=path), path)
    lengths = torch.tensor([checkpoint.metadata[INSTRUCTION_LENGTHS_KEY]], dtype=torch.long)
    return checkpoint.load_into(
        model,
        device,
        dtype,
        dtypes=storage_dtypes(model, dtype, weight_dtype),
        extra={"instruction_lengths": lengths},
    )


def load_gguf_audio_tokenizer(
    path: Path,
    device: torch.device,
    dtype: torch.dtype,
    include_encoder: bool,
    operations=None,
    weight_dtype: torch.dtype | None = None,
):
    """The audio tokenizer's decode path from ``vocoder.gguf`` (it holds nothing else)."""
    from ..models.audio_tokenizer import DashengAudioTokenizer

    if include_encoder:
        raise GGUFError(
            f"{path} is audiogen.cpp's vocoder: it holds only the audio tokenizer's decode path, "
            "so it cannot encode audio (Audio Encode, editing or continuing a clip). Use the "
            "official safetensors audio tokenizer (mispeech/dashengtokenizer) for that."
        )
    checkpoint = open_gguf(path, "audio_tokenizer")
    config = checkpoint.config()
    ops = _operations(operations, dtype, weight_dtype)
    model = _build(lambda: DashengAudioTokenizer.from_config(config, False, ops), path)
    return checkpoint.load_into(
        model, device, dtype, dtypes=storage_dtypes(model, dtype, weight_dtype)
    )


def load_gguf_text_encoder(
    path: Path,
    device: torch.device,
    dtype: torch.dtype,
    tokenizer_file: Path | None = None,
    operations=None,
    weight_dtype: torch.dtype | None = None,
):
    """The T5 encoder from ``t5_encoder.gguf`` and the tokenizer beside it."""
    from ..models.text_encoder import T5Encoder, T5Tokenizer, TextEncoder
    from .spiece import SentencePieceConversionError, load_spiece_tokenizer

    folder = path.parent
    tokenizer_path = Path(tokenizer_file) if tokenizer_file else folder / "tokenizer.json"
    spiece_path = folder / SPIECE_FILE
    if not tokenizer_path.is_file() and (tokenizer_file or not spiece_path.is_file()):
        raise WeightsError(
            f"{tokenizer_path if tokenizer_file else spiece_path} is missing: the text encoder "
            f"{path.name} needs the {SPIECE_FILE} of audiogen.cpp's set (or a tokenizer.json) "
            f"beside it.\nDownload it with: hf download {GGUF_REPO} {SPIECE_FILE} "
            f"--local-dir {folder}"
        )
    checkpoint = open_gguf(path, "text_encoder")
    config = checkpoint.config()
    if tokenizer_path.is_file():
        tokenizer = T5Tokenizer.from_file(tokenizer_path)
    else:
        try:
            tokenizer = T5Tokenizer(load_spiece_tokenizer(folder))
        except SentencePieceConversionError as exc:
            raise WeightsError(str(exc)) from exc
    ops = _operations(operations, dtype, weight_dtype)
    model = _build(lambda: T5Encoder.from_config(config, ops), path)
    checkpoint.load_into(model, device, dtype, dtypes=storage_dtypes(model, dtype, weight_dtype))
    return TextEncoder(
        model,
        tokenizer,
        max_length=min(int(config["n_positions"]), 512),
        family=text_encoder_family(config),
        source_folder=path,
    )
