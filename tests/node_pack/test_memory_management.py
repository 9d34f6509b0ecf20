"""The pack under ComfyUI's memory management: which weights each node loads, and offloading.

ComfyUI moves a managed module with ``module.to(device)``, which replaces every parameter's
data in place (and every buffer in its owning module). A pack that kept its own reference to
a weight tensor, a cast copy or a cache would pin that memory after ComfyUI offloads the
model. The tests move the managed modules the way ComfyUI does and check that the weights the
nodes use are then exactly where the patchers put them, and that nothing the graph caches
(conditioning, latent, audio) keeps the generator alive once its loader output is dropped.
On a CPU the device moved to is the meta device: the same in-place mechanism as a
CPU <-> CUDA move, visible without a GPU.

Each ``ready`` call hands ComfyUI the memory the call needs beyond the weights (the core's
estimates for the shapes of that call) and never forces a full load, so ComfyUI may load the
DiT partially on a small GPU; the last tests run the graph that way, and with fp8 weights.
"""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from workflow_graph import run_node

from audiogen_core.pipeline import AudioGenPipeline
from audiogen_core.runtime import memory
from nodes import comfy_compat
from nodes.codec import AudioGenDecode
from nodes.generation import AudioGenSampler, AudioGenTextEncode
from nodes.loaders import (
    AudioGenAudioTokenizerLoader,
    AudioGenModelLoader,
    AudioGenTextEncoderLoader,
)
from nodes.managed import generator_parts

PROMPT = "<|caption|> A dog barks in a park <|sfx|> two barks"
SETTINGS = {"seed": 3, "steps": 2, "guidance": 5.0, "sway": -1.0, "batch_size": 1}
MOVED = torch.device("meta")  # stands for "the device ComfyUI moved the model to"


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
    (call,) = standin.load_calls
    assert call.models == [text_encoder.patcher, model.text_side]
    assert model.text_side.model.model_loaded_weight_memory > 0
    assert model.patcher.model.model_loaded_weight_memory == 0  # the DiT's side stayed put
    assert cond.predicted_frames[0] > 0

    run_node(AudioGenSampler, model, cond, duration_s=0.2, **SETTINGS)
    assert standin.load_calls[1].models == [model.patcher]


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
    assert {p.device for p in generator.backbone.parameters()} == {MOVED}
    assert generator.backbone.device == MOVED and generator.device == MOVED
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


def test_each_stage_hands_comfyui_its_memory_estimate_and_forces_nothing(comfy):
    _, standin = comfy
    (model,) = run_node(AudioGenModelLoader, "Dasheng-AudioGen", "auto", "fp32")
    (text_encoder,) = run_node(AudioGenTextEncoderLoader, "flan-t5-large", "auto", "fp32")
    (tokenizer,) = run_node(AudioGenAudioTokenizerLoader, "dashengtokenizer", "auto", "fp32", False)
    cond = run_node(AudioGenTextEncode, text_encoder, model, PROMPT)[0]
    settings = {**SETTINGS, "batch_size": 3}
    latent = run_node(AudioGenSampler, model, cond, duration_s=1.2, **settings)[0]
    no_guidance = {**settings, "guidance": 1.0}
    run_node(AudioGenSampler, model, cond, duration_s=1.2, **no_guidance)
    run_node(AudioGenDecode, tokenizer, latent)
    encode, sample, sample_unguided, decode = standin.load_calls

    generator = model.component
    tokens = cond.token_counts[0]
    assert encode.memory_required == memory.prompt_encoding_bytes(
        text_encoder.component.model, generator, 1, tokens
    )
    context = int(cond.tensors.context.shape[1])
    # 3 variations x 30 frames; guidance doubles the DiT batch, 1.0 turns it off.
    assert sample.memory_required == memory.sampling_bytes(generator, 3, 30, context, True)
    assert sample_unguided.memory_required == memory.sampling_bytes(
        generator, 3, 30, context, False
    )
    assert sample.memory_required > sample_unguided.memory_required > 0
    assert decode.memory_required == memory.decoding_bytes(tokenizer.component, 3, 30)
    for call in standin.load_calls:
        assert not call.force_full_load and call.minimum_memory_required is None


def test_a_long_clip_is_estimated_at_one_windows_frames(comfy, tiny_models):
    from nodes.managed import decoding_memory, sampling_memory

    model, tokenizer = tiny_models["model"], tiny_models["audio_tokenizer"]
    cond = AudioGenPipeline(
        generator=model.component, text_encoder=tiny_models["text_encoder"].component
    ).encode_prompt(PROMPT)
    generator = model.component
    context = int(cond.tensors.context.shape[1])
    # 300 s is sampled in 20 s windows of 500 frames; 10 s in one pass of 250.
    assert sampling_memory(model, cond, 300.0, 1, 5.0) == memory.sampling_bytes(
        generator, 1, 500, context, True
    )
    assert sampling_memory(model, cond, 10.0, 1, 5.0) == memory.sampling_bytes(
        generator, 1, 250, context, True
    )
    # Decoding a long latent goes chunk by chunk, each with its context frames.
    long = AudioGenPipeline(generator=generator).sample(cond, steps=1, duration_s=40.0)
    chunk = 750 + 2 * tokenizer.component.decode_context_frames
    assert decoding_memory(tokenizer, long) == memory.decoding_bytes(tokenizer.component, 1, chunk)


def _text_to_audio(weight_dtype: str):
    (model,) = run_node(AudioGenModelLoader, "Dasheng-AudioGen", "auto", "fp32", weight_dtype)
    (text_encoder,) = run_node(
        AudioGenTextEncoderLoader, "flan-t5-large", "auto", "fp32", weight_dtype
    )
    (tokenizer,) = run_node(
        AudioGenAudioTokenizerLoader, "dashengtokenizer", "auto", "fp32", False, weight_dtype
    )
    cond = run_node(AudioGenTextEncode, text_encoder, model, PROMPT)[0]
    latent = run_node(AudioGenSampler, model, cond, duration_s=0.4, **SETTINGS)[0]
    (audio,) = run_node(AudioGenDecode, tokenizer, latent)
    return model, audio["waveform"]


@pytest.mark.parametrize("under", ["comfy", "standalone"])
def test_fp8_weights_end_to_end_in_the_node_graph(request, under):
    request.getfixturevalue(under)
    model, waveform = _text_to_audio("fp8_e4m3fn")
    linears = [m for m in model.component.backbone.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and {m.weight.dtype for m in linears} == {torch.float8_e4m3fn}
    assert model.component.dtype == torch.float32  # computed in fp32
    assert waveform.shape == (1, 1, 6400) and torch.isfinite(waveform).all()
    assert waveform.abs().max() > 0
    _, reference = _text_to_audio("default")
    # 8-bit weights change the result a little, not beyond recognition.
    error = (waveform - reference).abs().max() / reference.abs().max()
    assert 0 < error < 0.5


def test_partial_loading_on_a_small_gpu_gives_the_full_loads_audio(comfy):
    _, standin = comfy
    _, full = _text_to_audio("default")
    # ComfyUI finds room for only part of the weights: the rest stays offloaded and casts
    # (ComfyUI's disable_weight_init layers, switched to their casting path).
    standin.lowvram_model_memory = 20_000
    model, partial = _text_to_audio("default")
    dit = model.component.backbone
    assert dit.model_lowvram and 0 < dit.model_loaded_weight_memory < 20_000
    casting = [m for m in dit.modules() if getattr(m, "prev_comfy_cast_weights", None) is False]
    assert casting  # layers ComfyUI switched to cast-on-the-fly
    assert torch.equal(partial, full)
    assert comfy_compat.model_management is standin
