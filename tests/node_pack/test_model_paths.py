"""Model folders: the audiogen key, listing snapshot folders by content, clear misses."""

from __future__ import annotations

import os
import shutil

import pytest
from comfy_standins import StandInFolderPaths

from audiogen_core.weights import AUDIO_TOKENIZER, GENERATOR, TEXT_ENCODER, WeightsError
from nodes import comfy_compat, model_paths


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

    assert model_paths.list_snapshots(GENERATOR) == ["Dasheng-AudioGen", "my-finetune"]
    assert model_paths.list_snapshots(AUDIO_TOKENIZER) == ["dashengtokenizer"]
    assert model_paths.list_snapshots(TEXT_ENCODER) == ["flan-t5-large"]
    found = model_paths.resolve_snapshot(TEXT_ENCODER, "flan-t5-large")
    assert found == tmp_path / "ComfyUI" / "models" / "text_encoders" / "flan-t5-large"


def test_the_official_name_is_offered_before_the_weights_exist(folder_paths):
    model_paths.register_model_folder()
    assert model_paths.list_snapshots(GENERATOR) == ["Dasheng-AudioGen"]


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
