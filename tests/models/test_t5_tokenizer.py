"""T5Tokenizer against transformers' T5TokenizerFast on the same tokenizer.json."""

from __future__ import annotations

import json

import pytest
import torch
from t5_test_tokenizer import write_t5_tokenizer

from audiogen_core.models.text_encoder import T5Tokenizer

PROMPTS = [
    "<|caption|> A dog barks <|sfx|> bark",
    "<|caption|> the rain",
    "<|caption|>  A  dog,   the rain.",
    "<|caption|> café 雨 ☂ naïve QXZ",
    "",
]
LONG_PROMPT = "<|caption|> " + " ".join(["A dog barks in the rain"] * 120)


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory):
    return write_t5_tokenizer(tmp_path_factory.mktemp("t5_tokenizer"))


@pytest.fixture(scope="module")
def hf_tokenizer(tokenizer_file):
    transformers = pytest.importorskip(
        "transformers", reason="transformers (test-only dependency) is needed as the reference"
    )
    return transformers.T5TokenizerFast(tokenizer_file=str(tokenizer_file))


@pytest.fixture(scope="module")
def ours(tokenizer_file):
    return T5Tokenizer.from_file(tokenizer_file)


def _hf(hf_tokenizer, texts, max_length):
    out = hf_tokenizer(
        texts, max_length=max_length, truncation=True, padding=True, return_tensors="pt"
    )
    return out["input_ids"], out["attention_mask"].bool()


def _assert_same(ours, hf_tokenizer, texts, max_length=512):
    ids, mask = ours(texts, max_length=max_length)
    hf_ids, hf_mask = _hf(hf_tokenizer, texts, max_length)
    assert ids.dtype == torch.long and mask.dtype == torch.bool
    assert torch.equal(ids, hf_ids), f"ids differ for {texts!r}:\n{ids}\n{hf_ids}"
    assert torch.equal(mask, hf_mask), f"masks differ for {texts!r}"


def test_special_ids(ours):
    assert (ours.pad_id, ours.eos_id) == (0, 1)


def test_batch_with_padding_matches_transformers(ours, hf_tokenizer):
    _assert_same(ours, hf_tokenizer, PROMPTS)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_single_prompt_matches_transformers(ours, hf_tokenizer, prompt):
    _assert_same(ours, hf_tokenizer, [prompt])


def test_unknown_characters_become_unk(ours):
    ids, _ = ours(["雨"])
    assert 2 in ids.tolist()[0]


def test_eos_last_and_pad_after(ours):
    ids, mask = ours(PROMPTS)
    for row, valid in zip(ids.tolist(), mask.tolist(), strict=True):
        n = sum(valid)
        assert valid == [True] * n + [False] * (len(valid) - n)
        assert row[n - 1] == ours.eos_id and all(t == ours.pad_id for t in row[n:])


@pytest.mark.parametrize("max_length", [1, 2, 5, 12])
def test_truncation_small_max_length(ours, hf_tokenizer, max_length):
    _assert_same(ours, hf_tokenizer, PROMPTS, max_length=max_length)


def test_truncation_at_512_keeps_eos(ours, hf_tokenizer):
    assert ours.tokenize([LONG_PROMPT])[2] == [len(ours._ids([LONG_PROMPT])[0]) + 1]
    assert ours.tokenize([LONG_PROMPT])[2][0] > 512
    _assert_same(ours, hf_tokenizer, [LONG_PROMPT, PROMPTS[0]])
    ids, mask = ours([LONG_PROMPT, PROMPTS[0]])
    assert ids.shape == (2, 512) and ids[0, -1] == ours.eos_id and bool(mask[0].all())


@pytest.mark.parametrize("prompt", [*PROMPTS, LONG_PROMPT])
def test_token_counts_are_untruncated_lengths(ours, hf_tokenizer, prompt):
    ids, _, counts = ours.tokenize([prompt, "<|caption|> short"], max_length=16)
    assert ids.shape[1] <= 16
    assert counts[0] == len(hf_tokenizer(prompt)["input_ids"])


def test_file_settings_for_padding_and_truncation_are_ignored(tmp_path, ours):
    path = write_t5_tokenizer(tmp_path)
    data = json.loads(path.read_text())
    data["truncation"] = {
        "direction": "Left",
        "max_length": 3,
        "strategy": "LongestFirst",
        "stride": 0,
    }
    data["padding"] = {
        "strategy": {"Fixed": 40},
        "direction": "Left",
        "pad_to_multiple_of": None,
        "pad_id": 5,
        "pad_type_id": 0,
        "pad_token": "s",
    }
    data["post_processor"] = None
    path.write_text(json.dumps(data))
    ids, mask = T5Tokenizer.from_file(path)(PROMPTS)
    expected_ids, expected_mask = ours(PROMPTS)
    assert torch.equal(ids, expected_ids) and torch.equal(mask, expected_mask)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json of google/flan-t5-large"):
        T5Tokenizer.from_file(tmp_path / "tokenizer.json")


def test_not_a_tokenizer_file_is_a_clear_error(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text('{"hello": "world"}')
    with pytest.raises(ValueError, match="not a Hugging Face tokenizers JSON"):
        T5Tokenizer.from_file(path)


def test_single_string_or_empty_batch_is_rejected(ours):
    with pytest.raises(TypeError, match="list of prompts"):
        ours("<|caption|> a dog")
    with pytest.raises(ValueError, match="at least one prompt"):
        ours([])
