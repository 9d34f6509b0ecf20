"""Checks on the official weights, run only where they are on disk.

Set ``AUDIOGEN_REAL_MODEL_DIR`` to the folder holding ``Dasheng-AudioGen/``,
``dashengtokenizer/`` and ``flan-t5-large/`` (as downloaded from the Hub; add
``Dasheng-AudioGen-Multilingual/`` and ``mt5-large/`` to check that checkpoint too) and run
``python -m pytest -q tests -m real_weights``. CI has no copy of the 13 GB of weights, so
these tests skip there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from audiogen_core.checkpoints import (
    load_audio_tokenizer,
    load_generator,
    load_text_encoder,
)
from audiogen_core.pipeline import AudioGenPipeline

REAL_DIR = os.environ.get("AUDIOGEN_REAL_MODEL_DIR")
pytestmark = [
    pytest.mark.real_weights,
    pytest.mark.skipif(not REAL_DIR, reason="AUDIOGEN_REAL_MODEL_DIR is not set"),
]
PROMPT = (
    "<|caption|> A man speaks on a rainy street while a car passes "
    "<|speech|> calm adult male voice <|asr|> It is raining again. <|sfx|> a car passes "
    "<|env|> steady rain"
)


@pytest.fixture(scope="module")
def root() -> Path:
    return Path(REAL_DIR)


def test_official_snapshots_load_strictly_in_bf16(root):
    generator = load_generator(root / "Dasheng-AudioGen", "cpu", torch.bfloat16)
    assert int(generator.instruction_lengths[0]) <= generator.instruction_embedding.shape[1]
    tokenizer = load_audio_tokenizer(root / "dashengtokenizer", "cpu", torch.bfloat16)
    assert tokenizer.sample_rate == 16000 and tokenizer.frame_rate == 25
    encoder = load_text_encoder(root / "flan-t5-large", "cpu", torch.bfloat16)
    ids, mask = encoder.tokenizer([PROMPT])
    assert ids[0, -1].item() == encoder.tokenizer.eos_id and bool(mask.all())


def test_official_model_predicts_a_plausible_duration_and_generates_exactly(root):
    pipe = AudioGenPipeline.from_model_dir(root, device="auto", dtype="auto")
    cond = pipe.encode_prompt(PROMPT)
    assert 0.5 <= cond.predicted_duration_s[0] <= 60.0
    result = pipe.generate(PROMPT, seed=0, steps=25, duration_s=2.5)
    assert result.waveform.shape == (1, 1, 40000)
    assert torch.isfinite(result.waveform).all()
    assert result.waveform.abs().max() > 1e-3  # not silence


MULTILINGUAL_PROMPT = (
    "<|caption|> A woman tells a story in a quiet room "
    "<|speech|> warm female voice, slow and clear "
    "<|asr|> Había una vez una niña que soñaba con las estrellas. <|env|> quiet room"
)


def test_official_multilingual_checkpoint_generates(root):
    if not (root / "Dasheng-AudioGen-Multilingual").is_dir():
        pytest.skip("the multilingual snapshots are not in AUDIOGEN_REAL_MODEL_DIR")
    pipe = AudioGenPipeline.from_model_dir(root, multilingual=True, device="auto", dtype="auto")
    assert pipe.text_encoder.family == "mt5"
    assert pipe.text_encoder.model.config.vocab_size == 250112
    ids, _ = pipe.text_encoder.tokenizer([MULTILINGUAL_PROMPT])
    assert 2 not in ids[0].tolist()  # mT5's vocabulary covers the Spanish words
    result = pipe.generate(MULTILINGUAL_PROMPT, seed=0, steps=25, duration_s=2.5)
    assert result.waveform.shape == (1, 1, 40000) and torch.isfinite(result.waveform).all()
    assert result.waveform.abs().max() > 1e-3
