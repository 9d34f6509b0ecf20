"""Loader nodes: standalone and under (stand-in) ComfyUI model management."""

from __future__ import annotations

import pytest
import torch

from audiogen_core.devices import auto_dtype
from audiogen_core.weights import WeightsError
from nodes.loaders import (
    AudioGenAudioTokenizerLoader,
    AudioGenModelLoader,
    AudioGenTextEncoderLoader,
)
from nodes.managed import ready


def test_loaders_load_the_official_folder_names_standalone(standalone):
    (model,) = AudioGenModelLoader().load("Dasheng-AudioGen", "cpu", "fp32")
    (text_encoder,) = AudioGenTextEncoderLoader().load("flan-t5-large", "auto", "auto")
    (tokenizer,) = AudioGenAudioTokenizerLoader().load("dashengtokenizer", "cpu", "bf16", False)
    assert model.patcher is None and model.folder == standalone / "Dasheng-AudioGen"
    assert model.component.device.type == "cpu" and model.component.dtype == torch.float32
    assert text_encoder.dtype == auto_dtype("cpu")[0]  # auto on the CPU: per its bf16 support
    assert tokenizer.component.dtype == torch.bfloat16
    assert not tokenizer.component.has_encoder


def test_tokenizer_loads_its_encoder_on_request(standalone):
    (tokenizer,) = AudioGenAudioTokenizerLoader().load("dashengtokenizer", "cpu", "fp32", True)
    assert tokenizer.component.has_encoder


def test_missing_model_folder_names_the_node_the_place_and_the_download(
    standalone, tmp_path, monkeypatch
):
    monkeypatch.setenv("AUDIOGEN_MODEL_DIR", str(tmp_path))
    with pytest.raises(WeightsError) as caught:
        AudioGenModelLoader().load("Dasheng-AudioGen", "cpu", "fp32")
    message = str(caught.value)
    assert message.startswith("AudioGen Load Model: ")
    assert str(tmp_path) in message and "hf download mispeech/Dasheng-AudioGen" in message


def test_incomplete_folder_gets_the_core_loaders_precise_message(standalone, tmp_path, monkeypatch):
    (tmp_path / "flan-t5-large").mkdir()
    monkeypatch.setenv("AUDIOGEN_MODEL_DIR", str(tmp_path))
    with pytest.raises(WeightsError, match=r"^AudioGen Load Text Encoder: .*no config\.json"):
        AudioGenTextEncoderLoader().load("flan-t5-large", "cpu", "fp32")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_a_clear_error(standalone):
    with pytest.raises(ValueError, match=r"^AudioGen Load Model: .*no CUDA GPU"):
        AudioGenModelLoader().load("Dasheng-AudioGen", "cuda", "auto")


def test_under_comfyui_models_are_handed_to_its_model_management(comfy):
    _, standin = comfy
    (model,) = AudioGenModelLoader().load("Dasheng-AudioGen", "auto", "auto")
    (text_encoder,) = AudioGenTextEncoderLoader().load("flan-t5-large", "auto", "fp32")
    patcher = model.patcher
    assert patcher is not None and patcher.model.inner is model.component
    # The patcher's bookkeeping lands on the box, not on the generator's read-only .device.
    assert patcher.model.device == torch.device("cpu")
    assert text_encoder.patcher.model.inner is text_encoder.component.model

    ready(text_encoder, model)
    ((patchers, full_load),) = standin.load_calls
    assert patchers == [text_encoder.patcher, model.patcher] and full_load
    assert patcher.model.model_loaded_weight_memory > 0
