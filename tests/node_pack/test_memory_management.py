"""The pack under ComfyUI's memory management: which weights each node loads, and offloading.

ComfyUI moves a managed module with ``module.to(device)``, which replaces every parameter's
data in place (and every buffer in its owning module). A pack that kept its own reference to
a weight tensor, a cast copy or a cache would pin that memory after ComfyUI offloads the
model. The tests move the managed modules the way ComfyUI does and check that the weights the
nodes use are then exactly where the patchers put them, and that nothing the graph caches
(conditioning, latent, audio) keeps the generator alive once its loader output is dropped.
On a CPU the "device" moved to is a dtype (float64): the same in-place mechanism as a
CPU <-> CUDA move, visible without a GPU.
"""

from __future__ import annotations

import gc
import weakref

import torch
from workflow_graph import run_node

from nodes.codec import AudioGenDecode
from nodes.generation import AudioGenSampler, AudioGenTextEncode
from nodes.loaders import AudioGenModelLoader, AudioGenTextEncoderLoader
from nodes.managed import generator_parts

PROMPT = "<|caption|> A dog barks in a park <|sfx|> two barks"
SETTINGS = {"seed": 3, "steps": 2, "guidance": 5.0, "sway": -1.0, "batch_size": 1}
MOVED = torch.float64  # stands for "the device ComfyUI moved the model to"


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {**dict(module.named_parameters()), **dict(module.named_buffers())}


def test_the_generator_sides_are_disjoint_and_cover_every_weight(tiny_models):
    generator = tiny_models["model"].component
    sampling, text = generator_parts(generator)
    by_id = {id(t): name for name, t in _tensors(generator).items()}
    sampling_ids = {id(t) for t in _tensors(sampling).values()}
    text_ids = {id(t) for t in _tensors(text).values()}
    assert not sampling_ids & text_ids
    assert all(i in by_id for i in sampling_ids | text_ids)  # the generator's own tensors
    left_out = {by_id[i] for i in set(by_id) - sampling_ids - text_ids}
    # The top-level vectors and buffers (a few KB) are copied to where they are used per call.
    assert left_out == {
        "dummy_param",
        "dummy_nta_embed",
        "dummy_ta_embed",
        "instruction_embedding",
        "instruction_lengths",
    }
    assert all(by_id[i].startswith("backbone.") for i in sampling_ids)
    assert all(by_id[i].startswith(("content_adapter.", "content_encoder.")) for i in text_ids)


def test_text_encode_loads_the_text_side_but_never_the_dit(comfy):
    _, standin = comfy
    (model,) = run_node(AudioGenModelLoader, "Dasheng-AudioGen", "auto", "fp32")
    (text_encoder,) = run_node(AudioGenTextEncoderLoader, "flan-t5-large", "auto", "fp32")
    cond = run_node(AudioGenTextEncode, text_encoder, model, PROMPT)[0]
    ((loaded, _),) = standin.load_calls
    assert loaded == [text_encoder.patcher, model.text_side]
    assert model.text_side.model.model_loaded_weight_memory > 0
    assert model.patcher.model.model_loaded_weight_memory == 0  # the DiT's side stayed put
    assert cond.predicted_frames[0] > 0

    run_node(AudioGenSampler, model, cond, duration_s=0.2, **SETTINGS)
    assert standin.load_calls[1][0] == [model.patcher]


def test_after_offload_no_pack_object_holds_the_dit(comfy):
    _, standin = comfy
    (model,) = run_node(AudioGenModelLoader, "Dasheng-AudioGen", "auto", "fp32")
    (text_encoder,) = run_node(AudioGenTextEncoderLoader, "flan-t5-large", "auto", "fp32")
    cond = run_node(AudioGenTextEncode, text_encoder, model, PROMPT)[0]
    latent = run_node(AudioGenSampler, model, cond, duration_s=0.4, **SETTINGS)[0]
    generator = model.component

    # ComfyUI offloads the DiT (another model needs the memory): the generator's weights go
    # with it, because the patcher holds the generator's own modules and parameters.
    model.patcher.unpatch_model(device_to=MOVED)
    # (RoPE frequencies are recomputed in float32 after any cast, by design, so the check
    # covers the parameters: every weight of the DiT.)
    assert {p.dtype for p in generator.backbone.parameters()} == {MOVED}
    weights = {t.untyped_storage().data_ptr() for t in _tensors(generator).values()}
    kept = [cond.tensors.context, cond.tensors.context_mask, latent.latent, latent.lengths]
    assert not weights & {t.untyped_storage().data_ptr() for t in kept}

    # Once ComfyUI drops the loader's output, the graph's cached outputs do not keep the
    # generator (or either patcher) alive.
    alive = [weakref.ref(x) for x in (generator, model.patcher, model.text_side)]
    standin.load_calls.clear()  # the stand-in's own record (ComfyUI keeps weak references)
    del model, generator
    gc.collect()
    assert [ref() for ref in alive] == [None, None, None]
    assert cond.predicted_frames[0] > 0 and latent.batch_size == 1


def test_decode_output_does_not_pin_the_tokenizer(tiny_models):
    latent = run_node(
        AudioGenSampler,
        tiny_models["model"],
        run_node(AudioGenTextEncode, tiny_models["text_encoder"], tiny_models["model"], PROMPT)[0],
        duration_s=0.2,
        **SETTINGS,
    )[0]
    (audio,) = run_node(AudioGenDecode, tiny_models["audio_tokenizer"], latent)
    weights = {
        t.untyped_storage().data_ptr()
        for t in _tensors(tiny_models["audio_tokenizer"].component).values()
    }
    assert audio["waveform"].untyped_storage().data_ptr() not in weights
    assert audio["waveform"].device.type == "cpu"
