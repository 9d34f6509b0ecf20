"""The multilingual checkpoint: mt5-large loading, pairing checks, pipeline end to end."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from audiogen_core.checkpoints import (
    MULTILINGUAL_TEXT_ENCODER,
    WeightsError,
    check_folder_pairing,
    download_command,
    download_snapshots,
    expected_layout_message,
    load_generator,
    load_text_encoder,
    resolve_model_dirs,
    text_encoder_family,
)
from audiogen_core.checkpoints.spiece import load_spiece_tokenizer
from audiogen_core.conditioning.prompt import compose_views
from audiogen_core.models.text_encoder import T5Tokenizer
from audiogen_core.pipeline import AudioGenPipeline

NARRATION = compose_views(
    caption="A woman narrates a story in a quiet room",
    speech="warm female voice, calm pace",
    asr="Hola, ¿cómo estás? La niña canta una canción.",
    env="quiet room",
)


@pytest.fixture(scope="module")
def mt5(tiny_model_dir):
    return load_text_encoder(tiny_model_dir / "mt5-large")


def test_mt5_large_loads_with_its_spiece_model(tiny_model_dir, mt5):
    folder = tiny_model_dir / "mt5-large"
    assert not (folder / "tokenizer.json").exists()
    stored = load_file(str(folder / "model.safetensors"))
    assert torch.equal(mt5.model.state_dict()["shared.weight"], stored["shared.weight"])
    assert mt5.family == "mt5" and mt5.max_length == 512
    expected = T5Tokenizer(load_spiece_tokenizer(folder))([NARRATION])
    ids, mask = mt5.tokenizer([NARRATION])
    assert torch.equal(ids, expected[0]) and torch.equal(mask, expected[1])
    assert not (folder / "tokenizer.json").exists(), "the snapshot folder was written to"


def test_mt5_without_any_tokenizer_file_says_how_to_download(tiny_model_dir, tmp_path):
    folder = shutil.copytree(tiny_model_dir / "mt5-large", tmp_path / "mt5-large")
    (folder / "spiece.model").unlink()
    with pytest.raises(WeightsError) as caught:
        load_text_encoder(folder)
    message = str(caught.value)
    assert "spiece.model" in message
    assert "hf download google/mt5-large --revision refs/pr/2 --local-dir" in message


def test_family_from_config_model_type_or_vocabulary():
    assert text_encoder_family({"model_type": "mt5", "vocab_size": 300}) == "mt5"
    assert text_encoder_family({"model_type": "t5", "vocab_size": 32128}) == "t5"
    # mT5 re-saved by older tools with model_type "t5": the 250k vocabulary gives it away.
    assert text_encoder_family({"model_type": "t5", "vocab_size": 250112}) == "mt5"


@pytest.mark.parametrize(
    "generator, encoder, ok",
    [
        ("Dasheng-AudioGen", "flan-t5-large", True),
        ("Dasheng-AudioGen-Multilingual", "mt5-large", True),
        ("Dasheng-AudioGen", "mt5-large", False),
        ("Dasheng-AudioGen-Multilingual", "flan-t5-large", False),
    ],
)
def test_pairing_from_configs(tiny_model_dir, generator, encoder, ok):
    if ok:
        check_folder_pairing(tiny_model_dir / generator, tiny_model_dir / encoder)
        return
    with pytest.raises(WeightsError) as caught:
        check_folder_pairing(tiny_model_dir / generator, tiny_model_dir / encoder)
    message = str(caught.value)
    assert str(tiny_model_dir / generator) in message and str(tiny_model_dir / encoder) in message
    assert "google/mt5-large" in message and "google/flan-t5-large" in message


def test_mismatch_is_refused_before_any_weight_is_read(tiny_model_dir, tmp_path):
    generator = tmp_path / "Dasheng-AudioGen-Multilingual"
    generator.mkdir()
    shutil.copy(tiny_model_dir / "Dasheng-AudioGen-Multilingual" / "config.json", generator)
    # No weights at all: the loader would name them missing, but the pairing is checked first.
    with pytest.raises(WeightsError, match="trained with google/mt5-large"):
        AudioGenPipeline.load(
            generator,
            tiny_model_dir / "flan-t5-large",
            tiny_model_dir / "dashengtokenizer",
            device="cpu",
            dtype="fp32",
        )


def test_mismatch_of_loaded_models_is_refused_at_encoding(tiny_model_dir, mt5):
    english = load_generator(tiny_model_dir / "Dasheng-AudioGen")
    pipe = AudioGenPipeline(generator=english, text_encoder=mt5)
    with pytest.raises(WeightsError) as caught:
        pipe.encode_prompt(NARRATION)
    assert str(tiny_model_dir / "Dasheng-AudioGen") in str(caught.value)
    assert str(tiny_model_dir / "mt5-large") in str(caught.value)


def test_multilingual_pipeline_generates(tiny_model_dir):
    pipe = AudioGenPipeline.from_model_dir(
        tiny_model_dir, multilingual=True, device="cpu", dtype="fp32"
    )
    assert pipe.text_encoder.family == "mt5"
    cond = pipe.encode_prompt([NARRATION, "<|caption|> Rain <|asr|> Привет, как дела?"])
    assert cond.token_counts[0] == pipe.text_encoder.tokenizer.tokenize([NARRATION])[2][0]
    result = pipe.generate(NARRATION, seed=3, steps=2, duration_s=0.5)
    assert result.waveform.shape[-1] >= 8000 and bool(result.waveform.isfinite().all())


def test_layout_and_folders_of_the_multilingual_checkpoint(tmp_path):
    dirs = resolve_model_dirs(tmp_path, multilingual=True)
    assert dirs == {
        "generator": tmp_path / "Dasheng-AudioGen-Multilingual",
        "audio_tokenizer": tmp_path / "dashengtokenizer",
        "text_encoder": tmp_path / "mt5-large",
    }
    message = expected_layout_message(tmp_path, multilingual=True)
    assert "hf download mispeech/Dasheng-AudioGen-Multilingual --local-dir" in message
    assert download_command(MULTILINGUAL_TEXT_ENCODER, dirs["text_encoder"]) in message


def test_official_multilingual_generator_config_is_modelled(tiny_model_dir):
    english = json.loads((tiny_model_dir / "Dasheng-AudioGen" / "config.json").read_text())
    multi = json.loads(
        (tiny_model_dir / "Dasheng-AudioGen-Multilingual" / "config.json").read_text()
    )
    assert {k for k in english if english[k] != multi.get(k)} == {"text_encoder_name"}
    assert multi["text_encoder_name"] == "google/mt5-large"


def test_download_fetches_mt5_large_from_its_safetensors_branch(tmp_path, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    calls = []

    def fake_download(repo_id, revision, local_dir, allow_patterns):
        calls.append((repo_id, revision, allow_patterns))
        return local_dir

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    folders = download_snapshots(tmp_path, multilingual=True)
    assert folders == resolve_model_dirs(tmp_path, multilingual=True)
    assert [(repo, revision) for repo, revision, _ in calls] == [
        ("mispeech/Dasheng-AudioGen-Multilingual", None),
        ("mispeech/dashengtokenizer", None),
        ("google/mt5-large", "refs/pr/2"),
    ]
    assert all("*.model" in patterns and "*.bin" not in patterns for *_, patterns in calls)
