"""ComfyUI's own sampling nodes on the tiny model, inside a real ComfyUI (see conftest.py).

Equality: SamplerCustomAdvanced(AudioGen Noise, CFGGuider(AudioGen Model (native)), euler,
AudioGen Sway Scheduler, the native empty latent) gives the AudioGen Sampler's latent within
1e-5 x max(1, max|x|) in float32, for each case below. Every other sampler, scheduler, guider,
cache, patch and latent node checked runs to a finite latent of the right length.
"""

from __future__ import annotations

import math
import shutil

import pytest
import torch
from workflow_graph import run_node

PROMPT = "<|caption|> A dog barks in a park <|sfx|> two barks"
NEGATIVE = "<|caption|> Heavy rain on a tin roof"
SEED = 7


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def models(comfyui, tiny_model_dir):
    from audiogen_core.checkpoints.loaders import (
        load_audio_tokenizer,
        load_generator,
        load_text_encoder,
    )

    managed = comfyui.pack.nodes.managed
    folder = tiny_model_dir
    return {
        "model": managed.load_managed_generator(
            load_generator, folder / "Dasheng-AudioGen", "cpu", "fp32", "default"
        ),
        "text_encoder": managed.load_managed(
            load_text_encoder,
            folder / "flan-t5-large",
            "cpu",
            "fp32",
            "default",
            "text_encoder",
            lambda component: component.model,
        ),
        "audio_tokenizer": managed.load_managed(
            load_audio_tokenizer, folder / "dashengtokenizer", "cpu", "fp32", "default", "vae"
        ),
    }


def run(node, *args, **kwargs):
    """A V3 node's outputs, run as ComfyUI's executor runs it (the previews read ``cls.hidden``)."""
    return run_node(node, *args, **kwargs).args


@pytest.fixture(scope="session")
def nodes(comfyui):
    pack = comfyui.pack.nodes
    return pack


@pytest.fixture(scope="session")
def encode(nodes, models):
    def encode_prompt(prompt: str):
        text = nodes.generation.AudioGenTextEncode
        return run(text, models["text_encoder"], models["model"], prompt)[0]

    return encode_prompt


@pytest.fixture(scope="session")
def cond(encode):
    return encode(PROMPT)


@pytest.fixture(scope="session")
def clip(nodes, models):
    """A 3 s two-tone clip encoded by AudioGen Encode Audio."""
    t = torch.arange(3 * 44100) / 44100
    tone = 0.3 * torch.sin(2 * math.pi * 330 * t) + 0.2 * torch.sin(2 * math.pi * 523 * t)
    audio = {"waveform": tone[None, None], "sample_rate": 44100}
    return run(nodes.codec.AudioGenEncode, models["audio_tokenizer"], audio)[0]


def pack_sample(nodes, models, cond, **settings):
    values = (
        dict(seed=SEED, steps=25, guidance=5.0, sway=-1.0, duration_s=0.0, batch_size=1) | settings
    )
    return run(nodes.generation.AudioGenSampler, models["model"], cond, **values)[0]


def native_parts(nodes, models, cond, duration_s=0.0, batch_size=1, time_mode="blend", **extra):
    native = nodes.native.native_nodes
    model = run(native.AudioGenNativeModel, models["model"])[0]
    conditioning = native.AudioGenNativeConditioning
    positive, negative, latent = run(
        conditioning, models["model"], cond, duration_s, batch_size, time_mode, **extra
    )
    return model, positive, negative, latent


def native_sample(
    comfyui,
    nodes,
    model,
    positive,
    negative,
    latent,
    cfg=5.0,
    sampler="euler",
    sigmas=None,
    seed=SEED,
):
    native = nodes.native.native_nodes
    custom = comfyui.custom
    if sigmas is None:
        sigmas = run(native.AudioGenSwayScheduler, 25, -1.0, 1.0)[0]
    noise = run(native.AudioGenNoise, seed)[0]
    guider = custom.CFGGuider().get_guider(model, positive, negative, cfg)[0]
    chosen = custom.KSamplerSelect().get_sampler(sampler)[0]
    return custom.SamplerCustomAdvanced().sample(noise, guider, chosen, sigmas, latent)[0]


def assert_equal_latents(case: str, expected: torch.Tensor, got: torch.Tensor) -> None:
    assert got.shape == expected.shape
    diff = float((got - expected).abs().max())
    tolerance = 1e-5 * max(1.0, float(expected.abs().max()))
    print(f"\nequality {case}: max|diff| = {diff:.3g}, tolerance {tolerance:.3g}")
    assert diff <= tolerance


def assert_finite_audio_latent(out: dict, frames: int, batch: int = 1) -> None:
    samples = out["samples"]
    assert samples.shape[0] == batch and samples.shape[-1] == frames
    assert bool(torch.isfinite(samples).all())


# --------------------------------------------------------------------------- equality


@pytest.mark.parametrize(
    ("case", "pack_settings", "native_settings"),
    [
        ("default (25 steps, guidance 5, sway -1)", {}, {}),
        ("guidance 1", {"guidance": 1.0}, {"cfg": 1.0}),
        ("sway 0", {"sway": 0.0}, {"sway": 0.0}),
        ("batch 3", {"batch_size": 3}, {"batch_size": 3}),
        ("fixed duration 1.7 s", {"duration_s": 1.7}, {"duration_s": 1.7}),
    ],
)
def test_native_sampling_equals_the_packs_sampler(
    comfyui, nodes, models, cond, case, pack_settings, native_settings
):
    expected = pack_sample(nodes, models, cond, **pack_settings).latent
    settings = dict(native_settings)
    cfg, sway = settings.pop("cfg", 5.0), settings.pop("sway", -1.0)
    model, positive, negative, latent = native_parts(nodes, models, cond, **settings)
    sigmas = run(nodes.native.native_nodes.AudioGenSwayScheduler, 25, sway, 1.0)[0]
    out = native_sample(comfyui, nodes, model, positive, negative, latent, cfg=cfg, sigmas=sigmas)
    assert_equal_latents(case, expected, out["samples"])


def test_time_aligned_layout_equals_the_packs_sampler(comfyui, nodes, models, cond):
    expected = pack_sample(nodes, models, cond, time_mode="aligned").latent
    parts = native_parts(nodes, models, cond, time_mode="aligned")
    out = native_sample(comfyui, nodes, *parts)
    assert_equal_latents("time-aligned layout", expected, out["samples"])


def test_timed_prompts_as_masked_areas_equal_the_packs_blend(comfyui, nodes, models, cond):
    timed = nodes.timeline_nodes.AudioGenTimedPrompt
    blended = run(
        timed,
        models["text_encoder"],
        models["model"],
        cond,
        "<|caption|> A bird sings",
        0.2,
        0.7,
        0.1,
        0.8,
    )[0]
    expected = pack_sample(nodes, models, blended, duration_s=1.2).latent
    model, positive, negative, latent = native_parts(nodes, models, blended, duration_s=1.2)
    assert len(positive) == 2 and all("mask" in entry[1] for entry in positive)
    out = native_sample(comfyui, nodes, model, positive, negative, latent)
    assert_equal_latents("timed prompt blended over 0.2-0.7 s", expected, out["samples"])


def test_denoise_on_an_encoded_clip_equals_the_packs_sampler(comfyui, nodes, models, cond, clip):
    native = nodes.native.native_nodes
    expected = pack_sample(nodes, models, cond, latent=clip, denoise=0.6).latent
    model, positive, negative, _ = native_parts(nodes, models, cond)
    latent = run(native.AudioGenLatentToComfy, clip)[0]
    sigmas = run(native.AudioGenSwayScheduler, 25, -1.0, 0.6)[0]
    out = native_sample(comfyui, nodes, model, positive, negative, latent, sigmas=sigmas)
    assert_equal_latents("denoise 0.6 on an encoded clip", expected, out["samples"])


def test_a_noise_mask_equals_the_packs_regenerate_range(comfyui, nodes, models, cond, clip):
    native = nodes.native.native_nodes
    marked = run(nodes.editing.AudioGenRegenerateRange, clip, 1.0, 2.0, 0.0)[0]
    assert set(marked.noise_mask.unique().tolist()) == {0.0, 1.0}
    expected = pack_sample(nodes, models, cond, latent=marked).latent
    model, positive, negative, _ = native_parts(nodes, models, cond)
    latent = run(native.AudioGenLatentToComfy, marked)[0]
    out = native_sample(comfyui, nodes, model, positive, negative, latent)
    assert_equal_latents("0/1 noise mask (regenerate 1-2 s)", expected, out["samples"])
    kept = marked.noise_mask[0] == 0
    assert torch.equal(out["samples"][0][:, kept], clip.latent[0][:, kept])


# --------------------------------------------------------------------------- everything else


@pytest.fixture(scope="session")
def short(nodes, models, cond):
    """MODEL, positive, negative and a 1 s latent (25 frames)."""
    return native_parts(nodes, models, cond, duration_s=1.0)


@pytest.mark.parametrize(
    "sampler", ["dpmpp_2m", "res_multistep", "heun", "uni_pc", "euler_ancestral"]
)
def test_comfyuis_samplers_run_on_the_sway_schedule(comfyui, nodes, short, sampler):
    sigmas = run(nodes.native.native_nodes.AudioGenSwayScheduler, 8, -1.0, 1.0)[0]
    out = native_sample(comfyui, nodes, *short, sampler=sampler, sigmas=sigmas)
    assert_finite_audio_latent(out, 25)


def test_every_basic_scheduler_runs(comfyui, nodes, short):
    import comfy.samplers

    model = short[0]
    for scheduler in comfy.samplers.SCHEDULER_NAMES:
        sigmas = comfyui.custom.BasicScheduler().get_sigmas(model, scheduler, 6, 1.0)[0]
        out = native_sample(comfyui, nodes, *short, sampler="dpmpp_2m", sigmas=sigmas)
        assert_finite_audio_latent(out, 25)


@pytest.mark.parametrize(
    "patch",
    [
        ("APG", lambda c, m: run(c.apg.APG, m, 1.0, 5.0, -0.5)[0]),
        ("CFGZeroStar", lambda c, m: run(c.cfg.CFGZeroStar, m)[0]),
        ("CFGNorm", lambda c, m: run(c.cfg.CFGNorm, m, 1.0)[0]),
        ("ModelSamplingSD3 shift 3", lambda c, m: c.advanced.ModelSamplingSD3().patch(m, 3.0)[0]),
    ],
    ids=lambda p: p[0],
)
def test_guiders_and_model_patches_run(comfyui, nodes, short, patch):
    model, positive, negative, latent = short
    patched = patch[1](comfyui, model)
    sigmas = comfyui.custom.BasicScheduler().get_sigmas(patched, "simple", 8, 1.0)[0]
    out = native_sample(comfyui, nodes, patched, positive, negative, latent, sigmas=sigmas)
    assert_finite_audio_latent(out, 25)


def _counting_dit_calls(models, monkeypatch) -> list[int]:
    dit = models["model"].component.backbone
    calls = []
    original = dit.velocity

    def counted(x, timesteps, constants):
        calls.append(int(x.shape[0]))
        return original(x, timesteps, constants)

    monkeypatch.setattr(dit, "velocity", counted)
    return calls


@pytest.mark.parametrize("node", ["EasyCacheNode", "LazyCacheNode"])
def test_easycache_and_lazycache_skip_dit_evaluations(
    comfyui, nodes, models, short, node, monkeypatch
):
    model, positive, negative, latent = short
    cached = run(getattr(comfyui.easycache, node), model, 0.5, 0.0, 1.0, False)[0]
    calls = _counting_dit_calls(models, monkeypatch)
    sigmas = run(nodes.native.native_nodes.AudioGenSwayScheduler, 16, -1.0, 1.0)[0]
    out = native_sample(comfyui, nodes, cached, positive, negative, latent, sigmas=sigmas)
    assert_finite_audio_latent(out, 25)
    print(f"\n{node}: {len(calls)} DiT evaluations for 16 steps")
    assert 0 < len(calls) < 16


def test_torch_compile_model_runs(comfyui, nodes, short):
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("torch.compile's inductor backend needs a C compiler on the CPU")
    model, positive, negative, latent = short
    compiled = run(comfyui.compile.TorchCompileModel, model, "inductor")[0]
    sigmas = run(nodes.native.native_nodes.AudioGenSwayScheduler, 3, -1.0, 1.0)[0]
    plain = native_sample(comfyui, nodes, model, positive, negative, latent, sigmas=sigmas)
    out = native_sample(comfyui, nodes, compiled, positive, negative, latent, sigmas=sigmas)
    assert_finite_audio_latent(out, 25)
    assert_equal_latents("TorchCompileModel vs eager", plain["samples"], out["samples"])


def test_latent_concat_and_cut_along_time(comfyui, nodes, models, short):
    model, positive, negative, latent = short
    joined = run(comfyui.latent.LatentConcat, latent, latent, "x")[0]
    assert joined["samples"].shape[-1] == 50
    sigmas = run(nodes.native.native_nodes.AudioGenSwayScheduler, 6, -1.0, 1.0)[0]
    out = native_sample(comfyui, nodes, model, positive, negative, joined, sigmas=sigmas)
    assert_finite_audio_latent(out, 50)
    cut = run(comfyui.latent.LatentCut, out, "x", 10, 20)[0]
    assert_finite_audio_latent(cut, 20)
    decoded = _decode(nodes, models, cut)
    assert decoded["waveform"].shape[-1] == 20 * 640


def _decode(nodes, models, latent: dict) -> dict:
    native = nodes.native.native_nodes
    converted = run(native.AudioGenLatentFromComfy, latent)[0]
    return run(nodes.codec.AudioGenDecode, models["audio_tokenizer"], converted)[0]


def test_a_real_negative_prompt_changes_the_result(comfyui, nodes, models, cond, encode, short):
    model, positive, own_negative, latent = short
    negative_cond = encode(NEGATIVE)
    _, _, negative, _ = native_parts(
        nodes, models, cond, duration_s=1.0, negative_conditioning=negative_cond
    )
    sigmas = run(nodes.native.native_nodes.AudioGenSwayScheduler, 8, -1.0, 1.0)[0]
    with_prompt = native_sample(comfyui, nodes, model, positive, negative, latent, sigmas=sigmas)
    plain = native_sample(comfyui, nodes, model, positive, own_negative, latent, sigmas=sigmas)
    assert_finite_audio_latent(with_prompt, 25)
    assert float((with_prompt["samples"] - plain["samples"]).abs().max()) > 1e-3


def test_ksampler_runs_and_its_latent_decodes_to_the_set_duration(comfyui, nodes, models, cond):
    model, positive, negative, latent = native_parts(nodes, models, cond, duration_s=1.7)
    out = comfyui.nodes.KSampler().sample(
        model, SEED, 8, 5.0, "dpmpp_2m", "simple", positive, negative, latent, 1.0
    )[0]
    assert_finite_audio_latent(out, 42)
    assert _decode(nodes, models, out)["waveform"].shape[-1] == round(1.7 * 16000)


# --------------------------------------------------------------------------- memory


def test_both_samplers_share_one_loaded_model_entry(comfyui, nodes, models, cond):
    patcher = models["model"].patcher
    pack_sample(nodes, models, cond, steps=2)
    model, positive, negative, latent = native_parts(nodes, models, cond)
    sigmas = run(nodes.native.native_nodes.AudioGenSwayScheduler, 2, -1.0, 1.0)[0]
    native_sample(comfyui, nodes, model, positive, negative, latent, sigmas=sigmas)
    pack_sample(nodes, models, cond, steps=2)
    holding = [m for m in comfyui.mm.current_loaded_models if m.model.model is patcher.model]
    assert len(holding) == 1
    assert model.model is patcher.model


def test_memory_required_is_the_packs_estimate(nodes, models):
    from audiogen_core.runtime import memory

    model = run(nodes.native.native_nodes.AudioGenNativeModel, models["model"])[0]
    generator = models["model"].component
    shape = [4, int(generator.latent_dim), 250]
    estimate = model.model.memory_required(shape, {"c_crossattn": [[2, 17, 8], [2, 9, 8]]})
    assert estimate == memory.sampling_bytes(generator, 4, 250, 17, guidance=False)
