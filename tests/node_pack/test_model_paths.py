"""Model folders: the audiogen key, listing snapshot folders by content, clear misses."""

from __future__ import annotations

import os
import shutil

import pytest
from comfy_standins import StandInFolderPaths

from audiogen_core.checkpoints import (
    AUDIO_TOKENIZER,
    GENERATOR,
    MULTILINGUAL_GENERATOR,
    TEXT_ENCODER,
    WeightsError,
)
from nodes import comfy_compat, model_paths

OFFICIAL_GENERATORS = ["Dasheng-AudioGen", "Dasheng-AudioGen-Multilingual"]
OFFICIAL_TEXT_ENCODERS = ["flan-t5-large", "mt5-large"]


@pytest.fixture
def folder_paths(monkeypatch, tmp_path):
    standin = StandInFolderPaths(tmp_path / "ComfyUI")
    monkeypatch.setattr(comfy_compat, "folder_paths", standin)
    return standin


def test_registering_creates_the_key_with_an_empty_extension_set(folder_paths):
    model_paths.register_model_folder()
    model_paths.register_model_folder()  # idempotent: ComfyUI may import the pack twice
    paths, extensions = folder_paths.folder_names_and_paths["audiogen"]
    assert paths == [os.path.join(folder_paths.models_dir, "audiogen")]
    assert extensions == set()


def test_registering_keeps_paths_that_extra_model_paths_yaml_set(folder_paths, tmp_path):
    folder_paths.add_model_folder_path("audiogen", str(tmp_path / "shared-models"))
    model_paths.register_model_folder()
    paths = folder_paths.get_folder_paths("audiogen")
    assert paths == [
        str(tmp_path / "shared-models"),
        os.path.join(folder_paths.models_dir, "audiogen"),
    ]


def test_folders_are_listed_by_their_config_not_their_name(folder_paths, tiny_model_dir, tmp_path):
    model_paths.register_model_folder()
    audiogen = tmp_path / "ComfyUI" / "models" / "audiogen"
    shutil.copytree(tiny_model_dir / "Dasheng-AudioGen", audiogen / "my-finetune")
    shutil.copytree(tiny_model_dir / "dashengtokenizer", audiogen / "dashengtokenizer")
    (audiogen / "notes").mkdir()
    shutil.copytree(
        tiny_model_dir / "flan-t5-large",
        tmp_path / "ComfyUI" / "models" / "text_encoders" / "flan-t5-large",
    )

    assert model_paths.list_snapshots(GENERATOR) == [*OFFICIAL_GENERATORS, "my-finetune"]
    assert model_paths.list_snapshots(AUDIO_TOKENIZER) == ["dashengtokenizer"]
    assert model_paths.list_snapshots(TEXT_ENCODER) == OFFICIAL_TEXT_ENCODERS
    found = model_paths.resolve_snapshot(TEXT_ENCODER, "flan-t5-large")
    assert found == tmp_path / "ComfyUI" / "models" / "text_encoders" / "flan-t5-large"


def test_the_official_name_is_offered_before_the_weights_exist(folder_paths):
    model_paths.register_model_folder()
    assert model_paths.list_snapshots(GENERATOR) == OFFICIAL_GENERATORS
    assert model_paths.list_snapshots(MULTILINGUAL_GENERATOR) == OFFICIAL_GENERATORS


def test_the_multilingual_pair_is_found_beside_or_under_text_encoders(
    folder_paths, tiny_model_dir, tmp_path
):
    model_paths.register_model_folder()
    models = tmp_path / "ComfyUI" / "models"
    shutil.copytree(
        tiny_model_dir / "Dasheng-AudioGen-Multilingual",
        models / "audiogen" / "Dasheng-AudioGen-Multilingual",
    )
    shutil.copytree(tiny_model_dir / "mt5-large", models / "text_encoders" / "mt5-large")
    shutil.copytree(tiny_model_dir / "mt5-large", models / "audiogen" / "mt5-spanish-tuned")
    assert model_paths.list_snapshots(TEXT_ENCODER) == [
        *OFFICIAL_TEXT_ENCODERS,
        "mt5-spanish-tuned",
    ]
    found = model_paths.resolve_snapshot(TEXT_ENCODER, "mt5-large")
    assert found == models / "text_encoders" / "mt5-large"
    found = model_paths.resolve_snapshot(GENERATOR, "Dasheng-AudioGen-Multilingual")
    assert found == models / "audiogen" / "Dasheng-AudioGen-Multilingual"


def test_a_missing_multilingual_folder_names_its_own_download(folder_paths):
    model_paths.register_model_folder()
    with pytest.raises(WeightsError) as caught:
        model_paths.resolve_snapshot(TEXT_ENCODER, "mt5-large")
    assert "hf download google/mt5-large --revision refs/pr/2 --local-dir" in str(caught.value)
    assert "text_encoders" in str(caught.value)


def test_a_missing_folder_says_where_it_was_looked_for_and_how_to_download(folder_paths):
    model_paths.register_model_folder()
    with pytest.raises(WeightsError) as caught:
        model_paths.resolve_snapshot(GENERATOR, "Dasheng-AudioGen")
    message = str(caught.value)
    assert message.startswith("no generator (DiT + content adapter) folder named")
    assert os.path.join(folder_paths.models_dir, "audiogen") in message
    assert "hf download mispeech/Dasheng-AudioGen --local-dir" in message


def test_without_comfyui_the_environment_variable_names_the_model_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(comfy_compat, "folder_paths", None)
    monkeypatch.delenv("AUDIOGEN_MODEL_DIR", raising=False)
    assert model_paths.search_roots(GENERATOR) == []
    with pytest.raises(WeightsError, match="AUDIOGEN_MODEL_DIR"):
        model_paths.resolve_snapshot(GENERATOR, "Dasheng-AudioGen")
    monkeypatch.setenv("AUDIOGEN_MODEL_DIR", str(tmp_path))
    assert model_paths.search_roots(TEXT_ENCODER) == [tmp_path]
