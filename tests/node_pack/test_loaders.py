"""Loader nodes: standalone and under (stand-in) ComfyUI model management."""

from __future__ import annotations

import pytest
import torch
from workflow_graph import run_node

from audiogen_core.checkpoints import WeightsError
from audiogen_core.runtime.devices import auto_dtype
from nodes.generation import AudioGenTextEncode
from nodes.loaders import (
    AudioGenAudioTokenizerLoader,
    AudioGenModelLoader,
    AudioGenTextEncoderLoader,
)
from nodes.managed import ready


def test_loaders_load_the_official_folder_names_standalone(standalone):
    (model,) = run_node(AudioGenModelLoader, "Dasheng-AudioGen", "cpu", "fp32")
    (text_encoder,) = run_node(AudioGenTextEncoderLoader, "flan-t5-large", "auto", "auto")
    (tokenizer,) = run_node(AudioGenAudioTokenizerLoader, "dashengtokenizer", "cpu", "bf16", False)
    assert model.patcher is None and model.folder == standalone / "Dasheng-AudioGen"
    assert model.component.device.type == "cpu" and model.component.dtype == torch.float32
    assert text_encoder.dtype == auto_dtype("cpu")[0]  # auto on the CPU: per its bf16 support
    assert tokenizer.component.dtype == torch.bfloat16
    assert not tokenizer.component.has_encoder


def test_loaders_load_the_multilingual_pair_and_text_encode_refuses_a_mixed_one(standalone):
    (multilingual,) = run_node(AudioGenModelLoader, "Dasheng-AudioGen-Multilingual", "cpu", "fp32")
    (mt5,) = run_node(AudioGenTextEncoderLoader, "mt5-large", "cpu", "fp32")
    (flan,) = run_node(AudioGenTextEncoderLoader, "flan-t5-large", "cpu", "fp32")
    prompt = "<|caption|> A woman speaks <|asr|> Hola, ¿cómo estás?"
    cond = run_node(AudioGenTextEncode, mt5, multilingual, prompt).result[0]
    assert cond.batch_size == 1
    with pytest.raises(WeightsError) as caught:
        run_node(AudioGenTextEncode, flan, multilingual, prompt)
    message = str(caught.value)
    assert message.startswith("AudioGen Text Encode: ")
    assert str(standalone / "Dasheng-AudioGen-Multilingual") in message
    assert str(standalone / "flan-t5-large") in message


def test_tokenizer_loads_its_encoder_on_request(standalone):
    (tokenizer,) = run_node(AudioGenAudioTokenizerLoader, "dashengtokenizer", "cpu", "fp32", True)
    assert tokenizer.component.has_encoder


def test_missing_model_folder_names_the_node_the_place_and_the_download(
    standalone, tmp_path, monkeypatch
):
    monkeypatch.setenv("AUDIOGEN_MODEL_DIR", str(tmp_path))
    with pytest.raises(WeightsError) as caught:
        run_node(AudioGenModelLoader, "Dasheng-AudioGen", "cpu", "fp32")
    message = str(caught.value)
    assert message.startswith("AudioGen Load Model: no generator")
    assert message.count("AudioGen Load Model") == 1
    assert str(tmp_path) in message and "hf download mispeech/Dasheng-AudioGen" in message


def test_incomplete_folder_gets_the_core_loaders_precise_message(standalone, tmp_path, monkeypatch):
    (tmp_path / "flan-t5-large").mkdir()
    monkeypatch.setenv("AUDIOGEN_MODEL_DIR", str(tmp_path))
    with pytest.raises(WeightsError, match=r"^AudioGen Load Text Encoder: .*no config\.json"):
        run_node(AudioGenTextEncoderLoader, "flan-t5-large", "cpu", "fp32")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_a_clear_error(standalone):
    with pytest.raises(ValueError, match=r"^AudioGen Load Model: .*no CUDA GPU"):
        run_node(AudioGenModelLoader, "Dasheng-AudioGen", "cuda", "auto")


def test_under_comfyui_models_are_handed_to_its_model_management(comfy):
    _, standin = comfy
    (model,) = run_node(AudioGenModelLoader, "Dasheng-AudioGen", "auto", "auto")
    (text_encoder,) = run_node(AudioGenTextEncoderLoader, "flan-t5-large", "auto", "fp32")
    # The generator's two sides each have a patcher: the DiT, and the conditioner, wrapped
    # directly; the patcher's bookkeeping lands on the core modules themselves.
    assert model.patcher.model is model.component.backbone
    assert model.text_side.model is model.component.conditioner
    assert model.text_side.model.content_adapter is model.component.content_adapter
    assert model.patcher.model.device == torch.device("cpu")
    assert model.patcher.model.model_loaded_weight_memory == 0
    assert text_encoder.patcher.model is text_encoder.component.model
    assert text_encoder.text_side is None

    ready(text_encoder.patcher, model.text_side, memory_required=1234)
    (call,) = standin.load_calls
    assert call.models == [text_encoder.patcher, model.text_side]
    assert call.memory_required == 1234 and not call.force_full_load
    assert model.text_side.model.model_loaded_weight_memory > 0
    assert not model.text_side.model.model_lowvram


def test_assigned_device_is_what_the_patcher_wrote(comfy):
    (model,) = run_node(AudioGenModelLoader, "Dasheng-AudioGen", "auto", "fp32")
    backbone = model.component.backbone
    backbone.device = torch.device("meta")  # as ModelPatcher.load(device_to=...) writes it
    assert model.component.device == torch.device("meta")
    backbone.device = None
    assert model.component.device == torch.device("cpu")  # where the weights are


@pytest.mark.parametrize(
    ("weight_dtype", "stored", "layers"),
    [
        ("default", torch.float32, "disable_weight_init"),
        ("bf16", torch.bfloat16, "manual_cast"),
        ("fp8_e5m2", torch.float8_e5m2, "manual_cast"),
    ],
)
def test_loaders_build_with_comfyuis_layers_in_the_weight_dtype(
    comfy, weight_dtype, stored, layers
):
    import comfy_ops_standin

    ops = getattr(comfy_ops_standin, layers)
    (model,) = run_node(AudioGenModelLoader, "Dasheng-AudioGen", "auto", "fp32", weight_dtype)
    (text_encoder,) = run_node(
        AudioGenTextEncoderLoader, "flan-t5-large", "auto", "fp32", weight_dtype
    )
    (tokenizer,) = run_node(
        AudioGenAudioTokenizerLoader, "dashengtokenizer", "auto", "fp32", False, weight_dtype
    )
    for module in (model.component, text_encoder.component.model, tokenizer.component):
        linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
        assert linears and all(isinstance(m, ops.Linear) for m in linears)
        assert {m.weight.dtype for m in linears} == {stored}
    assert model.dtype == torch.float32
    assert model.weight_dtype == (None if weight_dtype == "default" else stored)


def test_weight_dtype_standalone_uses_the_cores_layers(standalone):
    from audiogen_core.models.ops import CastOps

    (model,) = run_node(AudioGenModelLoader, "Dasheng-AudioGen", "cpu", "bf16", "fp8_e4m3fn")
    linears = [m for m in model.component.modules() if isinstance(m, torch.nn.Linear)]
    assert all(isinstance(m, CastOps.Linear) for m in linears)
    assert {m.weight.dtype for m in linears} == {torch.float8_e4m3fn}
    # The storage dtype equal to the compute dtype is the plain default.
    (same,) = run_node(AudioGenModelLoader, "Dasheng-AudioGen", "cpu", "bf16", "bf16")
    assert same.weight_dtype is None
    assert not any(isinstance(m, CastOps.Linear) for m in same.component.modules())
