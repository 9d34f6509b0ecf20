"""A tiny T5-style ``tokenizer.json`` built with the ``tokenizers`` package, for tests.

It has the layout of google/flan-t5-large's file (Unigram model, ``<pad>`` = 0, ``</s>`` = 1,
``<unk>`` = 2, NFKC-like normalizer, whitespace split + Metaspace pre-tokenizer, a template
post-processor appending ``</s>``) but only a handful of pieces, so unknown characters occur.
"""

from __future__ import annotations

import string
from pathlib import Path

from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    normalizers,
    pre_tokenizers,
    processors,
)
from tokenizers.models import Unigram

SPECIALS = ["<pad>", "</s>", "<unk>"]
WORDS = ["▁A", "▁dog", "▁bark", "s", "▁caption", "caption", "sfx", "▁the", "▁rain", "▁a"]
SYMBOLS = ["▁", "<", "|", ">", "▁<", "|>", ".", ","]


def build_t5_tokenizer() -> Tokenizer:
    """Unigram tokenizer with a small vocabulary: specials, words, symbols, single letters."""
    letters = list(string.ascii_letters)
    vocab = [(token, 0.0) for token in SPECIALS]
    vocab += [(piece, -2.0 - 0.1 * i) for i, piece in enumerate(WORDS + SYMBOLS)]
    vocab += [(letter, -8.0 - 0.01 * i) for i, letter in enumerate(letters)]
    tokenizer = Tokenizer(Unigram(vocab, unk_id=2, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.add_special_tokens([AddedToken(token, special=True) for token in SPECIALS])
    tokenizer.post_processor = processors.TemplateProcessing(
        single=["$A", "</s>"], pair=["$A", "</s>", "$B", "</s>"], special_tokens=[("</s>", 1)]
    )
    return tokenizer


def write_t5_tokenizer(folder: Path) -> Path:
    """Save the test tokenizer as ``folder/tokenizer.json`` and return that path."""
    path = folder / "tokenizer.json"
    build_t5_tokenizer().save(str(path))
    return path
