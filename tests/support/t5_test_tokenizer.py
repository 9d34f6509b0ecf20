"""Tiny T5 tokenizers for tests: a flan-t5-style ``tokenizer.json`` and an mT5 ``spiece.model``.

The first has the layout of google/flan-t5-large's file (Unigram model, ``<pad>`` = 0, ``</s>`` = 1,
``<unk>`` = 2, NFKC-like normalizer, whitespace split + Metaspace pre-tokenizer, a template
post-processor appending ``</s>``) but only a handful of pieces, so unknown characters occur.
The second is a real SentencePiece model trained on a small multilingual corpus, shipped the
way google/mt5-large ships its tokenizer (``spiece.model`` only, no ``tokenizer.json``).
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


# A few sentences in each language of the multilingual checkpoint, plus Chinese and the tags.
MULTILINGUAL_CORPUS = [
    "A dog barks in the rain while a man speaks calmly.",
    "A woman narrates with a warm female voice; a girl, a boy and a crowd speak! Rain.",
    "Hola, ¿cómo estás? El perro ladra bajo la lluvia y la niña canta una canción.",
    "Olá, tudo bem? O cachorro late na chuva; ação, coração, não.",
    "Привет, как дела? Собака лает под дождём, а мужчина говорит спокойно.",
    "Bonjour, ça va ? Le chien aboie sous la pluie, l'été est là, où es-tu ?",
    "こんにちは、元気ですか？犬が雨の中で吠えています。カタカナとひらがな。",
    "안녕하세요, 잘 지내세요? 개가 빗속에서 짖고 있습니다.",
    "Guten Tag, wie geht's? Der Hund bellt im Regen, Straße, Größe, Übermut.",
    "你好，世界。雨中的狗在叫。",
    "<|caption|> <|speech|> <|asr|> <|sfx|> <|music|> <|env|>",
]


def train_mt5_spiece(vocab_size: int = 400) -> bytes:
    """A SentencePiece unigram model laid out like mT5's spiece.model, trained on the corpus.

    Same special pieces and ids as google/mt5-large (``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2, no
    ``<s>``), NFKC-based normalisation table, no byte fallback, so rare characters become
    ``<unk>``. Training takes a few tens of milliseconds.
    """
    import io

    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(MULTILINGUAL_CORPUS * 20),
        model_writer=model,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=0.9995,
        normalization_rule_name="nmt_nfkc",
        minloglevel=2,
    )
    return model.getvalue()


def write_mt5_tokenizer_files(folder: Path) -> Path:
    """``spiece.model`` and the tokenizer configs of google/mt5-large (no tokenizer.json)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spiece.model").write_bytes(train_mt5_spiece())
    specials = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    (folder / "special_tokens_map.json").write_text(json.dumps(specials))
    config = {**specials, "extra_ids": 0, "additional_special_tokens": None}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder / "spiece.model"
