"""A ``tokenizers`` T5 tokenizer from a SentencePiece ``spiece.model`` (google/mt5-large).

google/flan-t5-large ships a ready ``tokenizer.json``; google/mt5-large ships only the
SentencePiece model. This module converts it once into the same layout as flan-t5's file and
as transformers' ``T5Tokenizer`` builds from ``spiece.model`` (Unigram pieces and scores in
file order, the model's own precompiled normalisation table, whitespace split + ``▁`` prefix,
``</s>`` appended), so the ids are identical to transformers' mT5 tokenizer: checked against
``AutoTokenizer`` of transformers 4.57 (the version the official code is tested with, whose
fast tokenizer is converted with the legacy ``▁`` prefix on every word) and 5.x, and against
the sentencepiece library itself.

Reading the model file needs the optional ``sentencepiece`` and ``protobuf`` packages (the
file is a protobuf message). They are needed only for the conversion: the result is cached
as JSON under a cache folder, keyed by the SHA-256 of ``spiece.model``, and later loads read
the cache with ``tokenizers`` alone. The snapshot folder itself is never written to.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from tokenizers import (
    AddedToken,
    Tokenizer,
    decoders,
    normalizers,
    pre_tokenizers,
    processors,
)
from tokenizers.models import Unigram

from ..media.files import write_atomically

logger = logging.getLogger(__name__)

CACHE_DIR_ENV = "AUDIOGEN_CACHE_DIR"
# SentencePiece piece types (sentencepiece_model.proto): NORMAL, UNKNOWN, CONTROL,
# USER_DEFINED, UNUSED, BYTE.
_UNIGRAM = 1
_CONTROL = 3
_USER_DEFINED = 4
# transformers' T5 tokenizer appends this many <extra_id_N> sentinels unless the snapshot's
# tokenizer_config.json says otherwise (google/mt5-large says 0).
DEFAULT_EXTRA_IDS = 100
INSTALL_HINT = "pip install sentencepiece protobuf"
# Part of every cache file name: bump it when the conversion changes, so that tokenizers
# converted by an older version are not reused.
CONVERSION_VERSION = 1


class SentencePieceConversionError(RuntimeError):
    """``spiece.model`` could not be read or converted; the message says what to do."""


def cache_dir() -> Path:
    """``$AUDIOGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/comfyui-audiogen``, else ``~/.cache/...``."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "comfyui-audiogen"


def _read_proto(spiece_path: Path):
    try:
        from sentencepiece import sentencepiece_model_pb2
    except ImportError as exc:  # sentencepiece missing, or protobuf missing below it
        raise SentencePieceConversionError(
            f"{spiece_path.parent} has a SentencePiece model (spiece.model) but no "
            "tokenizer.json. Converting it once needs two optional packages: "
            f"`{INSTALL_HINT}` (missing: {exc.name or exc}). The converted tokenizer is "
            f"cached in {cache_dir()}, so this is needed only for the first load."
        ) from exc
    proto = sentencepiece_model_pb2.ModelProto()
    try:
        proto.ParseFromString(spiece_path.read_bytes())
    except Exception as exc:  # protobuf raises its own DecodeError type
        raise SentencePieceConversionError(
            f"{spiece_path} is not a SentencePiece model ({exc}); download it again."
        ) from exc
    if proto.trainer_spec.model_type != _UNIGRAM or not proto.pieces:
        raise SentencePieceConversionError(
            f"{spiece_path} is not a SentencePiece unigram model (T5 and mT5 use unigram); "
            "use the spiece.model of google/mt5-large."
        )
    return proto


def _extra_ids(folder: Path) -> int:
    config_path = folder / "tokenizer_config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DEFAULT_EXTRA_IDS
    value = config.get("extra_ids", DEFAULT_EXTRA_IDS) if isinstance(config, dict) else None
    return int(value) if isinstance(value, int) and value >= 0 else DEFAULT_EXTRA_IDS


def convert_spiece(spiece_path: Path | str, extra_ids: int = DEFAULT_EXTRA_IDS) -> Tokenizer:
    """The T5 ``tokenizers`` tokenizer equivalent to transformers' T5 tokenizer of this model."""
    spiece_path = Path(spiece_path)
    proto = _read_proto(spiece_path)
    vocab = [(piece.piece, piece.score) for piece in proto.pieces]
    # Sentinels go after the pieces, highest number first, as transformers numbers them.
    sentinels = [f"<extra_id_{i}>" for i in range(extra_ids - 1, -1, -1)]
    vocab += [(token, 0.0) for token in sentinels]
    trainer = proto.trainer_spec
    model = Unigram(vocab, unk_id=trainer.unk_id, byte_fallback=trainer.byte_fallback)
    tokenizer = Tokenizer(model)
    charsmap = proto.normalizer_spec.precompiled_charsmap
    if charsmap:
        tokenizer.normalizer = normalizers.Precompiled(charsmap)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    # Control pieces (<pad>, </s>) and the unknown piece are special tokens, matched whole in
    # text as transformers does; user-defined pieces are matched whole but are not special.
    unk_piece = proto.pieces[proto.trainer_spec.unk_id].piece
    specials = [p.piece for p in proto.pieces if p.type == _CONTROL] + [unk_piece]
    tokenizer.add_special_tokens([AddedToken(t, special=True) for t in specials + sentinels])
    user_defined = [p.piece for p in proto.pieces if p.type == _USER_DEFINED]
    if user_defined:
        tokenizer.add_tokens([AddedToken(t, normalized=False) for t in user_defined])
    eos_id = tokenizer.token_to_id("</s>")
    if eos_id is None or tokenizer.token_to_id("<pad>") is None:
        raise SentencePieceConversionError(
            f"{spiece_path} has no <pad> or </s> piece, so it is not a T5 SentencePiece model; "
            "use the spiece.model of google/mt5-large."
        )
    tokenizer.post_processor = processors.TemplateProcessing(
        single=["$A", "</s>"],
        pair=["$A", "</s>", "$B", "</s>"],
        special_tokens=[("</s>", eos_id)],
    )
    return tokenizer


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_spiece_tokenizer(folder: Path | str) -> Tokenizer:
    """The converted tokenizer of ``folder/spiece.model``: from the cache, else converted now.

    The cache file is written atomically (temporary file + rename) so that two processes
    converting at once never leave a half-written file. A cache folder that cannot be written
    only costs a conversion on every load, and is reported once in the log.
    """
    folder = Path(folder)
    spiece_path = folder / "spiece.model"
    extra_ids = _extra_ids(folder)
    key = f"{_sha256(spiece_path)[:32]}-x{extra_ids}-v{CONVERSION_VERSION}"
    cached = cache_dir() / "tokenizers" / f"spiece-{key}.json"
    if cached.is_file():
        try:
            return Tokenizer.from_file(str(cached))
        except Exception:  # a damaged cache entry is rebuilt below
            logger.warning("ignoring the unreadable cached tokenizer %s", cached)
    tokenizer = convert_spiece(spiece_path, extra_ids)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(cached, tokenizer.to_str(pretty=True).encode("utf-8"), overwrite=True)
    except OSError as exc:
        logger.warning(
            "could not cache the converted tokenizer in %s (%s); set %s to a writable folder "
            "to avoid converting on every load",
            cached.parent,
            exc,
            CACHE_DIR_ENV,
        )
    return tokenizer
