"""The loader nodes with audiogen.cpp's GGUF files beside the snapshot folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from gguf_files import write_dit, write_t5_encoder, write_vocoder
from workflow_graph import run_node

from audiogen_core.checkpoints import WeightsError
from audiogen_core.pipeline import AudioGenPipeline
from nodes import model_paths
from nodes.loaders import (
    AudioGenAudioTokenizerLoader,
    AudioGenModelLoader,
    AudioGenTextEncoderLoader,
)
from nodes.managed import ready

SET = "dasheng-audiogen-gguf"


@pytest.fixture
def gguf_comfy(comfy, tiny_model_dir):
    """The stand-in ComfyUI with audiogen.cpp's Q4_0 set in models/audiogen/<SET>/."""
    folder_paths, standin = comfy
    root = tiny_model_dir
    target = Path(folder_paths.base_path) / "models" / "audiogen" / SET
    target.mkdir()
    write_dit(root / "Dasheng-AudioGen", target / "dit_Q4_0.gguf", "q4_0")
    write_t5_encoder(root / "flan-t5-large", target / "t5_encoder.gguf")
    write_vocoder(root / "dashengtokenizer", target / "vocoder.gguf")
    shutil.copyfile(root / "flan-t5-large" / "tokenizer.json", target / "tokenizer.json")
    return standin


def test_loader_lists_offer_gguf_files_beside_the_folders(gguf_comfy):
    from audiogen_core.checkpoints import AUDIO_TOKENIZER, GENERATOR, TEXT_ENCODER

    generators = model_paths.list_snapshots(GENERATOR)
    assert generators[0] == "Dasheng-AudioGen"  # saved graphs naming the folder still load
    assert f"{SET}/dit_Q4_0.gguf" in generators
    assert f"{SET}/t5_encoder.gguf" in model_paths.list_snapshots(TEXT_ENCODER)
    assert f"{SET}/t5_encoder.gguf" not in generators
    assert f"{SET}/vocoder.gguf" in model_paths.list_snapshots(AUDIO_TOKENIZER)


def test_gguf_models_load_through_comfyuis_layers_and_generate(gguf_comfy):
    import comfy_ops_standin

    (model,) = run_node(AudioGenModelLoader, f"{SET}/dit_Q4_0.gguf", "auto", "fp32")
    (text_encoder,) = run_node(AudioGenTextEncoderLoader, f"{SET}/t5_encoder.gguf", "auto", "fp32")
    (tokenizer,) = run_node(
        AudioGenAudioTokenizerLoader, f"{SET}/vocoder.gguf", "auto", "fp32", False
    )
    layer = model.component.backbone.in_blocks[0].attn.to_q
    assert layer.weight.dtype == torch.uint8 and layer.block_format.name == "Q4_0"
    assert isinstance(layer, comfy_ops_standin.disable_weight_init.Linear)  # ComfyUI's, extended
    ready(text_encoder.patcher, model.text_side, model.patcher, tokenizer.patcher)
    pipe = AudioGenPipeline(model.component, text_encoder.component, tokenizer.component)
    audio = pipe.generate("<|caption|> A dog barks", steps=2, duration_s=0.4).waveform
    assert audio.shape[-1] == 6400 and torch.isfinite(audio).all() and audio.abs().max() > 0


def test_vocoder_gguf_with_encoder_is_refused_by_name(gguf_comfy):
    with pytest.raises(Exception, match=r"vocoder.*decode path.*safetensors audio tokenizer"):
        run_node(AudioGenAudioTokenizerLoader, f"{SET}/vocoder.gguf", "auto", "fp32", True)


def test_missing_gguf_file_says_where_to_put_it(gguf_comfy):
    with pytest.raises((WeightsError, Exception), match=r"no GGUF file.*hf download"):
        run_node(AudioGenModelLoader, f"{SET}/dit_Q8_0.gguf", "auto", "fp32")
