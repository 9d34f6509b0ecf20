"""The mT5 tokenizer converted from spiece.model, against transformers and sentencepiece.

The sentencepiece model is trained in the test on a small corpus in the eight languages of
the multilingual checkpoint plus Chinese, and shipped as google/mt5-large ships its tokenizer:
``spiece.model`` and ``tokenizer_config.json`` (``extra_ids`` 0), no ``tokenizer.json``.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch
from t5_test_tokenizer import MULTILINGUAL_CORPUS, write_mt5_tokenizer_files

from audiogen_core.checkpoints import spiece as spiece_conversion
from audiogen_core.checkpoints.spiece import (
    SentencePieceConversionError,
    cache_dir,
    convert_spiece,
    load_spiece_tokenizer,
)
from audiogen_core.models.text_encoder import T5Tokenizer

# A Spanish narration with English views, as the model card asks, and one prompt per language.
PROMPTS = [
    "<|caption|> A woman narrates calmly <|speech|> warm female voice "
    "<|asr|> Hola, ¿cómo estás? La niña canta una canción.",
    "<|caption|> A man speaks <|asr|> Olá, tudo bem? Ação, coração, não.",
    "<|caption|> A man speaks <|asr|> Привет, как дела? Собака лает под дождём.",
    "<|caption|> A woman speaks <|asr|> Bonjour, ça va ? L'été est là, où es-tu ?",
    "<|caption|> A girl speaks <|asr|> こんにちは、元気ですか？犬が雨の中で吠えています。",
    "<|caption|> A boy speaks <|asr|> 안녕하세요, 잘 지내세요? 개가 빗속에서 짖고 있습니다.",
    "<|caption|> A man speaks <|asr|> Guten Tag! Straße, Größe, Übermut.",
    "<|caption|> Rain <|asr|> 你好，世界。雨中的狗在叫。",
    "<|caption|>  Odd   spacing,  full-width ＡＢＣ ①, ligature ﬁ, ｶﾀｶﾅ, ☂ ",
    "",
]
LONG_PROMPT = "<|caption|> A crowd <|asr|> " + " ".join(MULTILINGUAL_CORPUS * 12)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mt5-large")
    write_mt5_tokenizer_files(folder)
    return folder


@pytest.fixture(scope="module")
def ours(snapshot):
    return T5Tokenizer(load_spiece_tokenizer(snapshot))


@pytest.fixture(scope="module")
def hf_tokenizer(snapshot):
    transformers = pytest.importorskip(
        "transformers", reason="transformers (test-only dependency) is needed as the reference"
    )
    # What AutoTokenizer gives for google/mt5-large (config.json model_type "mt5").
    return transformers.T5Tokenizer.from_pretrained(str(snapshot))


@pytest.fixture(scope="module")
def processor(snapshot):
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(snapshot / "spiece.model"))


def _assert_same_as_transformers(ours, hf_tokenizer, texts, max_length=512):
    ids, mask = ours(texts, max_length=max_length)
    out = hf_tokenizer(
        texts, max_length=max_length, truncation=True, padding=True, return_tensors="pt"
    )
    assert torch.equal(ids, out["input_ids"]), f"ids differ for {texts!r}"
    assert torch.equal(mask, out["attention_mask"].bool())


@pytest.mark.parametrize("prompt", PROMPTS)
def test_each_language_matches_transformers(ours, hf_tokenizer, prompt):
    _assert_same_as_transformers(ours, hf_tokenizer, [prompt])


def test_padded_batch_matches_transformers(ours, hf_tokenizer):
    _assert_same_as_transformers(ours, hf_tokenizer, PROMPTS)
    ids, mask = ours(PROMPTS)
    assert ids[mask.logical_not()].eq(ours.pad_id).all() and mask.sum(1).min() == 1


@pytest.mark.parametrize("prompt", PROMPTS[:-1])
def test_segmentation_is_as_likely_as_sentencepiece_s(ours, processor, prompt):
    # The ground truth of what mT5 saw in training is the sentencepiece library itself. Both
    # pick a most likely segmentation; where two tie (single letters of this tiny model share
    # scores) they may pick different ones, so compare the pieces' total score and the text.
    ids = ours([prompt])[0][0].tolist()
    assert ids[-1] == ours.eos_id
    expected = processor.encode(prompt)

    def score(pieces: list[int]) -> float:
        return sum(processor.get_score(i) for i in pieces)

    assert score(ids[:-1]) == pytest.approx(score(expected), abs=1e-4)
    assert processor.decode(ids[:-1]) == processor.decode(expected)


def test_languages_are_in_the_vocabulary_not_unknown(ours):
    ids, _ = ours(PROMPTS[:8])
    unk = 2
    assert (ids == unk).sum() == 0, "a language of the corpus fell back to <unk>"
    rare, _ = ours(["<|caption|> ☂"])
    assert unk in rare[0].tolist()


def test_truncation_at_512_keeps_eos(ours, hf_tokenizer):
    assert ours.tokenize([LONG_PROMPT])[2][0] > 512
    _assert_same_as_transformers(ours, hf_tokenizer, [LONG_PROMPT, PROMPTS[0]])
    ids, mask = ours([LONG_PROMPT, PROMPTS[0]])
    assert ids.shape == (2, 512) and ids[0, -1] == ours.eos_id and bool(mask[0].all())


@pytest.mark.parametrize("prompt", [PROMPTS[0], PROMPTS[4], LONG_PROMPT])
def test_count_tokens_is_untruncated_length(ours, hf_tokenizer, prompt):
    assert ours.tokenize([prompt])[2] == [len(hf_tokenizer(prompt)["input_ids"])]


def test_sentinels_follow_tokenizer_config(snapshot, tmp_path):
    transformers = pytest.importorskip("transformers")
    folder = tmp_path / "with-sentinels"
    folder.mkdir()
    (folder / "spiece.model").write_bytes((snapshot / "spiece.model").read_bytes())
    ours = T5Tokenizer(load_spiece_tokenizer(folder))  # no tokenizer_config.json: 100 sentinels
    reference = transformers.T5Tokenizer.from_pretrained(str(folder))
    text = ["<|caption|> Hola <extra_id_0> niña <extra_id_99>"]
    assert ours(text)[0][0].tolist() == reference(text)["input_ids"][0]
    assert load_spiece_tokenizer(folder).get_vocab_size() == (
        convert_spiece(snapshot / "spiece.model", extra_ids=0).get_vocab_size() + 100
    )


def test_conversion_is_cached_and_never_writes_into_the_snapshot(snapshot, monkeypatch, tmp_path):
    monkeypatch.setenv("AUDIOGEN_CACHE_DIR", str(tmp_path / "cache"))
    before = sorted((p.name, p.stat().st_mtime_ns) for p in snapshot.iterdir())
    first = load_spiece_tokenizer(snapshot)
    cached = list((cache_dir() / "tokenizers").iterdir())
    assert len(cached) == 1 and cached[0].suffix == ".json"
    assert sorted((p.name, p.stat().st_mtime_ns) for p in snapshot.iterdir()) == before
    # Once cached, loading needs neither sentencepiece nor protobuf.
    monkeypatch.setitem(sys.modules, "sentencepiece", None)
    second = load_spiece_tokenizer(snapshot)
    assert second.to_str() == first.to_str()


def test_without_sentencepiece_the_error_says_what_to_install(snapshot, monkeypatch, tmp_path):
    monkeypatch.setenv("AUDIOGEN_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setitem(sys.modules, "sentencepiece", None)
    with pytest.raises(SentencePieceConversionError) as caught:
        load_spiece_tokenizer(snapshot)
    message = str(caught.value)
    assert spiece_conversion.INSTALL_HINT in message and str(snapshot) in message


def test_a_damaged_cache_entry_is_rebuilt(snapshot, monkeypatch, tmp_path):
    monkeypatch.setenv("AUDIOGEN_CACHE_DIR", str(tmp_path / "cache"))
    expected = load_spiece_tokenizer(snapshot).to_str()
    (entry,) = (cache_dir() / "tokenizers").iterdir()
    entry.write_text("{not json")
    assert load_spiece_tokenizer(snapshot).to_str() == expected
    assert json.loads(entry.read_text())["model"]["type"] == "Unigram"


def test_an_unwritable_cache_only_costs_a_conversion(snapshot, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("AUDIOGEN_CACHE_DIR", str(blocker))  # a file: no folder can go there
    assert load_spiece_tokenizer(snapshot).get_vocab_size() > 100


def test_a_file_that_is_not_a_sentencepiece_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOGEN_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "spiece.model").write_bytes(b"\x00\x01 definitely not a protobuf \xff\xff")
    with pytest.raises(SentencePieceConversionError, match="spiece.model"):
        load_spiece_tokenizer(tmp_path)
