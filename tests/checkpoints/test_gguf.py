"""audiogen.cpp's GGUF files: writing them, reading them, and what the models make of them.

The files come from two writers: ``gguf_files`` (a plain re-derivation of audiogen.cpp's
converters, standing in for files downloaded from audiohacking/dasheng-audiogen-gguf) and the
package's ``convert``. Both start from the tiny official-layout snapshots.
"""

from __future__ import annotations

import shutil

import gguf
import numpy as np
import pytest
import torch
from gguf_files import write_dit, write_foreign, write_t5_encoder, write_vocoder
from safetensors.torch import load_file, save_file
from t5_test_tokenizer import train_mt5_spiece

from audiogen_core.checkpoints import (
    WeightsError,
    load_audio_tokenizer,
    load_generator,
    load_text_encoder,
)
from audiogen_core.checkpoints.gguf import GGUFError
from audiogen_core.checkpoints.gguf_writer import write_gguf_set
from audiogen_core.models.quantized import Q4_0, Q8_0, dequantize
from audiogen_core.pipeline import AudioGenPipeline

PROMPT = "<|caption|> A dog barks in the rain"
DIT_NAMES = {"f32": "dit.gguf", "f16": "dit.gguf", "q8_0": "dit_Q8_0.gguf", "q4_0": "dit_Q4_0.gguf"}


@pytest.fixture(scope="module")
def snapshots(tiny_model_dir, tmp_path_factory):
    """The English tiny snapshots, flan-t5 with a spiece.model as google/flan-t5-large has."""
    root = tmp_path_factory.mktemp("snapshots")
    for name in ("Dasheng-AudioGen", "flan-t5-large", "dashengtokenizer"):
        shutil.copytree(tiny_model_dir / name, root / name)
    (root / "flan-t5-large" / "spiece.model").write_bytes(train_mt5_spiece())
    return root


@pytest.fixture(scope="module")
def converted(snapshots, tmp_path_factory):
    """quant -> folder written by the package's convert."""
    made = {}

    def make(quant):
        if quant not in made:
            out = tmp_path_factory.mktemp(f"gguf-{quant}")
            write_gguf_set(
                snapshots / "Dasheng-AudioGen",
                snapshots / "flan-t5-large",
                snapshots / "dashengtokenizer",
                out,
                quant,
            )
            made[quant] = out
        return made[quant]

    return make


@pytest.fixture(scope="module")
def reference(snapshots):
    """Safetensors models and one latent + waveform they make (fp32)."""
    models = (
        load_generator(snapshots / "Dasheng-AudioGen"),
        load_text_encoder(snapshots / "flan-t5-large"),
        load_audio_tokenizer(snapshots / "dashengtokenizer", include_encoder=False),
    )
    return models, _run(*models)


def _run(generator, text_encoder, audio_tokenizer):
    pipe = AudioGenPipeline(generator, text_encoder, audio_tokenizer)
    cond = pipe.encode_prompt([PROMPT])
    latent = pipe.sample(cond, seed=3, steps=4, guidance=5.0)
    return latent.latent, pipe.decode(latent)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize("quant", ["f32", "f16", "q8_0", "q4_0"])
def test_convert_writes_what_audiogen_cpp_writes(snapshots, converted, tmp_path, quant):
    """Byte for byte: names, shapes, GGML types, metadata and order of every file."""
    out = converted(quant)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [DIT_NAMES[quant], "t5_encoder.gguf", "vocoder.gguf", "spiece.model", "tokenizer.json"]
    )
    vocoder_dtype = "f32" if quant == "f32" else "f16"
    expected = {
        DIT_NAMES[quant]: write_dit(snapshots / "Dasheng-AudioGen", tmp_path / "d.gguf", quant),
        "t5_encoder.gguf": write_t5_encoder(snapshots / "flan-t5-large", tmp_path / "t.gguf"),
        "vocoder.gguf": write_vocoder(
            snapshots / "dashengtokenizer", tmp_path / "v.gguf", vocoder_dtype
        ),
    }
    for name, path in expected.items():
        assert (out / name).read_bytes() == path.read_bytes(), name
    assert (out / "spiece.model").read_bytes() == (
        snapshots / "flan-t5-large" / "spiece.model"
    ).read_bytes()


def test_quantized_file_types_follow_audiogen_cpp_rule(snapshots, converted):
    reader = gguf.GGUFReader(str(converted("q4_0") / "dit_Q4_0.gguf"))
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["backbone.in_blocks.0.mlp.net.0.proj.weight"] == "Q4_0"
    assert types["backbone.in_blocks.0.attn.to_q.weight"] == "Q4_0"
    assert types["backbone.in_blocks.0.mlp.net.0.proj.bias"] == "F32"  # vectors stay F32
    assert types["backbone.in_blocks.0.norm1.weight"] == "F32"
    assert types["backbone.patch_embed.proj.weight"] == "F32"  # rows of 1: not quantizable
    assert types["content_adapter.attn.out_proj.weight"] == "F32"  # only backbone.* quantized
    assert "instruction_lengths" not in types and "dummy_param" not in types
    field = reader.fields["dasheng_audiogen.instruction_lengths"]
    lengths = load_file(str(snapshots / "Dasheng-AudioGen" / "model.safetensors"))
    assert int(field.parts[field.data[0]][0]) == int(lengths["instruction_lengths"][0])


def test_convert_refuses_to_overwrite_and_leaves_nothing(snapshots, converted, tmp_path):
    out = converted("f16")
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(GGUFError, match="already holds"):
        write_gguf_set(
            snapshots / "Dasheng-AudioGen",
            snapshots / "flan-t5-large",
            snapshots / "dashengtokenizer",
            out,
            "f16",
        )
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_convert_failing_midway_writes_nothing(snapshots, tmp_path):
    """A weight fp16 cannot hold is found while writing the DiT: no file, no temp folder."""
    broken = tmp_path / "Dasheng-AudioGen"
    shutil.copytree(snapshots / "Dasheng-AudioGen", broken)
    tensors = load_file(str(broken / "model.safetensors"))
    tensors["backbone.time_ada_final.weight"][0, 0] = 1e6
    save_file(tensors, str(broken / "model.safetensors"))
    out = tmp_path / "out"
    with pytest.raises(GGUFError, match="float16"):
        write_gguf_set(
            broken, snapshots / "flan-t5-large", snapshots / "dashengtokenizer", out, "f16"
        )
    assert list(out.iterdir()) == []


def test_convert_needs_spiece_model(snapshots, tmp_path):
    encoder = shutil.copytree(snapshots / "flan-t5-large", tmp_path / "flan-t5-large")
    (encoder / "spiece.model").unlink()
    with pytest.raises(GGUFError, match="spiece.model"):
        write_gguf_set(
            snapshots / "Dasheng-AudioGen",
            encoder,
            snapshots / "dashengtokenizer",
            tmp_path / "o",
            "q8_0",
        )
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- fidelity


def test_f32_files_give_the_safetensors_output_bitwise(snapshots, reference, tmp_path):
    """audiogen.cpp's layout in F32 (text encoder as published): same weights, same output."""
    (_, _, _), (latent, audio) = reference
    dit = write_dit(snapshots / "Dasheng-AudioGen", tmp_path / "dit.gguf", "f32")
    t5 = write_t5_encoder(snapshots / "flan-t5-large", tmp_path / "t5_encoder.gguf")
    voc = write_vocoder(snapshots / "dashengtokenizer", tmp_path / "vocoder.gguf", "f32")
    shutil.copyfile(snapshots / "flan-t5-large" / "tokenizer.json", tmp_path / "tokenizer.json")
    models = (
        load_generator(dit),
        load_text_encoder(t5),
        load_audio_tokenizer(voc, include_encoder=False),
    )
    got_latent, got_audio = _run(*models)
    assert torch.equal(got_latent, latent)
    assert torch.equal(got_audio, audio)


def test_f16_files_stay_within_fp16_error(converted, reference):
    (generator, _, _), (latent, audio) = reference
    out = converted("f16")
    models = (
        load_generator(out / "dit.gguf"),
        load_text_encoder(out / "t5_encoder.gguf"),
        load_audio_tokenizer(out / "vocoder.gguf", include_encoder=False),
    )
    # Each matrix is the fp16 rounding of the fp32 one, held in fp32.
    ours = models[0].state_dict()["backbone.in_blocks.0.mlp.net.0.proj.weight"]
    theirs = generator.state_dict()["backbone.in_blocks.0.mlp.net.0.proj.weight"]
    assert torch.equal(ours, theirs.half().float())
    got_latent, got_audio = _run(*models)
    assert 0 < _relative(got_latent, latent) < 5e-3
    assert _relative(got_audio, audio) < 5e-3


@pytest.mark.parametrize(("quant", "bound"), [("q8_0", 0.03), ("q4_0", 0.4)])
def test_quantized_generator_stays_quantized_and_close(converted, reference, quant, bound):
    (_, text_encoder, audio_tokenizer), (latent, _) = reference
    path = converted(quant) / DIT_NAMES[quant]
    generator = load_generator(path)
    layer = generator.backbone.in_blocks[0].mlp.net[0].proj
    fmt = {"q8_0": Q8_0, "q4_0": Q4_0}[quant]
    assert layer.weight.dtype == torch.uint8
    assert layer.weight.shape == (layer.out_features, layer.in_features // 32 * fmt.block_bytes)
    assert layer.block_format is fmt
    got, _ = _run(generator, text_encoder, audio_tokenizer)
    error = _relative(got, latent)
    # Measured on these weights: q8_0 0.9 %, q4_0 18 % (random tiny weights quantize badly).
    assert 0 < error < bound


@pytest.mark.parametrize("fmt", [Q8_0, Q4_0])
def test_block_expansion_matches_gguf_reference(fmt):
    values = (torch.randn(48, 96, generator=torch.Generator().manual_seed(1)) * 0.05).numpy()
    kind = gguf.GGMLQuantizationType[fmt.name]
    blocks = gguf.quants.quantize(values, kind)
    expected = torch.from_numpy(gguf.quants.dequantize(blocks, kind))
    got = dequantize(torch.from_numpy(blocks), fmt, (48, 96), torch.float32)
    assert torch.equal(got, expected)
    half = dequantize(torch.from_numpy(blocks), fmt, (48, 96), torch.float16)
    assert torch.allclose(half.float(), expected, rtol=1e-3, atol=1e-6)


def test_quantized_layer_in_bf16_under_grad_and_inference(converted):
    generator = load_generator(converted("q8_0") / "dit_Q8_0.gguf", dtype=torch.bfloat16)
    layer = generator.backbone.in_blocks[0].attn.to_q
    x = torch.randn(3, layer.in_features, dtype=torch.bfloat16)
    with torch.inference_mode():
        first = layer(x)
    with torch.no_grad():
        second = layer(x)  # the reused buffer, now outside inference mode
    expected = torch.nn.functional.linear(x.float(), layer.expanded_weight(x.float()))
    assert torch.equal(first, second)
    assert _relative(first, expected) < 1e-2


# --------------------------------------------------------------------------- tokenizer


def test_text_encoder_reads_spiece_model_beside_the_file(converted, tmp_path):
    """Without tokenizer.json the spiece.model is converted; ids as transformers gives them."""
    transformers = pytest.importorskip("transformers")
    folder = tmp_path / "set"
    folder.mkdir()
    for name in ("t5_encoder.gguf", "spiece.model"):
        shutil.copyfile(converted("f32") / name, folder / name)
    encoder = load_text_encoder(folder / "t5_encoder.gguf")
    # What transformers builds for google/flan-t5-large from its spiece.model (100 sentinels).
    hf = transformers.T5Tokenizer.from_pretrained(str(folder))
    texts = ["A dog barks in the rain.", "<|caption|> El perro ladra; a girl sings!"]
    ids, mask = encoder.tokenizer(texts)
    out = hf(texts, padding=True, return_tensors="pt")
    assert torch.equal(ids, out["input_ids"])
    assert torch.equal(mask, out["attention_mask"].bool())


# --------------------------------------------------------------------------- errors


def _dit(snapshots, tmp_path, **kwargs):
    return write_dit(snapshots / "Dasheng-AudioGen", tmp_path / "dit.gguf", "f16", **kwargs)


def test_other_architecture_is_refused(tmp_path):
    path = write_foreign(tmp_path / "model.gguf")
    with pytest.raises(GGUFError, match=r"architecture 'llama'.*convert --to gguf"):
        load_generator(path)


def test_file_of_another_role_is_named(converted):
    with pytest.raises(GGUFError, match=r"text encoder.*not the generator"):
        load_generator(converted("f16") / "t5_encoder.gguf")


def test_missing_metadata_key_is_named(snapshots, tmp_path):
    path = _dit(snapshots, tmp_path, drop=("dit_depth",))
    with pytest.raises(
        GGUFError, match=r"dit\.gguf lacks the metadata key 'dasheng_audiogen\.dit_depth'"
    ):
        load_generator(path)


def test_unsupported_type_is_refused(snapshots, tmp_path):
    blocks = np.zeros((64, 144), np.uint8)  # Q4_K: super-blocks of 256 values, 144 bytes each
    kind = gguf.GGMLQuantizationType.Q4_K
    path = _dit(
        snapshots, tmp_path, replace={"backbone.in_blocks.0.attn.to_q.weight": (blocks, kind)}
    )
    with pytest.raises(
        GGUFError, match=r"dit\.gguf: tensor .*to_q.weight' is stored as Q4_K.*q8_0"
    ):
        load_generator(path)


def test_truncated_file_is_named(converted, tmp_path):
    path = tmp_path / "dit_Q8_0.gguf"
    data = (converted("q8_0") / "dit_Q8_0.gguf").read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(GGUFError, match=r"dit_Q8_0\.gguf .*(cut short|truncated)"):
        load_generator(path)


def test_shape_that_disagrees_with_metadata_is_named(snapshots, tmp_path):
    path = _dit(snapshots, tmp_path, changes={"dit_embed_dim": 32, "dit_num_heads": 2})
    expected = r"(?s)dit\.gguf.*shape or type mismatches.*backbone.*convert --to gguf"
    with pytest.raises(GGUFError, match=expected):
        load_generator(path)


def test_not_a_gguf_file_is_named(tmp_path):
    path = tmp_path / "dit.gguf"
    path.write_bytes(b"not a gguf file at all, just text" * 10)
    with pytest.raises(GGUFError, match=r"not a readable GGUF file"):
        load_generator(path)


def test_vocoder_cannot_encode(converted):
    with pytest.raises(GGUFError, match=r"decode path.*safetensors audio tokenizer"):
        load_audio_tokenizer(converted("f16") / "vocoder.gguf", include_encoder=True)


def test_text_encoder_without_tokenizer_is_named(converted, tmp_path):
    shutil.copyfile(converted("f16") / "t5_encoder.gguf", tmp_path / "t5_encoder.gguf")
    expected = r"(?s)spiece\.model is missing.*hf download audiohacking"
    with pytest.raises(WeightsError, match=expected):
        load_text_encoder(tmp_path / "t5_encoder.gguf")


def test_multilingual_set_keeps_its_pairing(tiny_model_dir, tmp_path):
    """audiogen.cpp's format cannot say mt5; the two extra keys do, and pairing still works."""
    from audiogen_core.checkpoints import check_folder_pairing

    out = tmp_path / "gguf"
    write_gguf_set(
        tiny_model_dir / "Dasheng-AudioGen-Multilingual",
        tiny_model_dir / "mt5-large",
        tiny_model_dir / "dashengtokenizer",
        out,
        "q8_0",
    )
    check_folder_pairing(out / "dit_Q8_0.gguf", out / "t5_encoder.gguf")
    assert load_generator(out / "dit_Q8_0.gguf").text_encoder_family == "mt5"
    assert load_text_encoder(out / "t5_encoder.gguf").family == "mt5"
    with pytest.raises(WeightsError, match="trained with google/flan-t5-large"):
        check_folder_pairing(tiny_model_dir / "Dasheng-AudioGen", out / "t5_encoder.gguf")
