"""Strict, safe, lean loading of the three models (checkpoints/loaders.py)."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from audiogen_core.checkpoints import (
    WeightsError,
    expected_layout_message,
    include_arguments,
    load_audio_tokenizer,
    load_generator,
    load_text_encoder,
)


@pytest.fixture
def gen_dir(tiny_model_dir, tmp_path):
    """A private copy of the tiny generator snapshot that a test may damage."""
    return shutil.copytree(tiny_model_dir / "Dasheng-AudioGen", tmp_path / "Dasheng-AudioGen")


def _rewrite(folder, edit):
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    edit(tensors)
    save_file(tensors, str(path))


def test_generator_loads_without_meta_tensors_in_bf16(tiny_model_dir):
    model = load_generator(tiny_model_dir / "Dasheng-AudioGen", "cpu", torch.bfloat16)
    state = model.state_dict()
    assert not any(t.is_meta for t in state.values())
    assert state["backbone.patch_embed.proj.weight"].dtype == torch.bfloat16
    assert state["instruction_lengths"].dtype == torch.int64
    stored = load_file(str(tiny_model_dir / "Dasheng-AudioGen" / "model.safetensors"))
    assert torch.equal(state["instruction_lengths"], stored["instruction_lengths"])
    assert not model.training


def test_missing_folder_names_location_and_download_command(tmp_path):
    with pytest.raises(WeightsError) as err:
        load_generator(tmp_path / "nowhere" / "Dasheng-AudioGen")
    message = str(err.value)
    assert "does not exist" in message
    assert "hf download mispeech/Dasheng-AudioGen --local-dir" in message


def test_folder_without_config(tmp_path):
    (tmp_path / "Dasheng-AudioGen").mkdir()
    with pytest.raises(WeightsError, match="no config.json"):
        load_generator(tmp_path / "Dasheng-AudioGen")


def test_wrong_snapshot_kind_is_named(tiny_model_dir):
    with pytest.raises(WeightsError, match="audio tokenizer.*not the generator"):
        load_generator(tiny_model_dir / "dashengtokenizer")


def test_pickle_checkpoint_is_refused_without_unpickling(gen_dir, tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (gen_dir / "model.safetensors").unlink()
    (gen_dir / "pytorch_model.bin").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(WeightsError, match="pickle") as err:
        load_generator(gen_dir)
    assert "pytorch_model.bin" in str(err.value)
    with pytest.raises(WeightsError, match="pickle") as err:
        load_generator(gen_dir / "pytorch_model.bin")
    # The hint fetches what the download command fetches: the core's one pattern list.
    assert f"--include {include_arguments()}`" in str(err.value)
    assert not marker.exists()


def test_truncated_safetensors(gen_dir):
    path = gen_dir / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated"):
        load_generator(gen_dir)


def test_wrong_shape_missing_and_unexpected_keys_are_listed(gen_dir):
    def damage(t):
        t["backbone.final_block.linear.bias"] = torch.zeros(7)
        del t["dummy_ta_embed"]
        t["backbone.surprise"] = torch.zeros(3)

    _rewrite(gen_dir, damage)
    with pytest.raises(WeightsError) as err:
        load_generator(gen_dir)
    message = str(err.value)
    assert "missing keys (1):\n    dummy_ta_embed" in message
    assert "unexpected keys (1):\n    backbone.surprise" in message
    assert "backbone.final_block.linear.bias: file [7], model" in message


def test_derived_buffers_and_placeholders_are_optional(gen_dir, tiny_model_dir):
    reference = load_generator(tiny_model_dir / "Dasheng-AudioGen")

    def strip(t):
        for key in [k for k in t if k.endswith("rotary.inv_freq") or k == "dummy_param"]:
            del t[key]

    _rewrite(gen_dir, strip)
    stripped = load_generator(gen_dir)
    for key, value in reference.state_dict().items():
        assert torch.equal(value, stripped.state_dict()[key]), key


def test_sharded_snapshot_with_index(gen_dir, tiny_model_dir):
    tensors = load_file(str(gen_dir / "model.safetensors"))
    (gen_dir / "model.safetensors").unlink()
    keys = sorted(tensors)
    shards = {
        "model-00001-of-00002.safetensors": keys[::2],
        "model-00002-of-00002.safetensors": keys[1::2],
    }
    weight_map = {}
    for name, shard_keys in shards.items():
        save_file({k: tensors[k] for k in shard_keys}, str(gen_dir / name))
        weight_map.update({k: name for k in shard_keys})
    (gen_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    sharded = load_generator(gen_dir)
    single = load_generator(tiny_model_dir / "Dasheng-AudioGen")
    assert all(torch.equal(v, sharded.state_dict()[k]) for k, v in single.state_dict().items())

    (gen_dir / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(WeightsError, match="missing shard"):
        load_generator(gen_dir)


def test_text_encoder_skips_decoder_half_and_uses_shared_embedding(tiny_model_dir):
    encoder = load_text_encoder(tiny_model_dir / "flan-t5-large")
    stored = load_file(str(tiny_model_dir / "flan-t5-large" / "model.safetensors"))
    assert any(k.startswith("decoder.") for k in stored)
    assert torch.equal(encoder.model.state_dict()["shared.weight"], stored["shared.weight"])


def test_text_encoder_needs_tokenizer_json(tiny_model_dir, tmp_path):
    folder = shutil.copytree(tiny_model_dir / "flan-t5-large", tmp_path / "flan-t5-large")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(WeightsError, match="tokenizer.json"):
        load_text_encoder(folder)


def test_audio_tokenizer_decoder_only_skips_encoder_weights(tiny_model_dir):
    full = load_audio_tokenizer(tiny_model_dir / "dashengtokenizer")
    lean = load_audio_tokenizer(tiny_model_dir / "dashengtokenizer", include_encoder=False)
    assert any(k.startswith("encoder.") for k in full.state_dict())
    assert not any(k.startswith("encoder.") for k in lean.state_dict())
    assert sum(p.numel() for p in lean.parameters()) < sum(p.numel() for p in full.parameters())


def test_layout_message_lists_all_three_snapshots(tmp_path):
    message = expected_layout_message(tmp_path)
    for name in ("Dasheng-AudioGen", "dashengtokenizer", "flan-t5-large"):
        assert str(tmp_path / name) in message
    assert "hf download google/flan-t5-large" in message


ENGLISH_WITHOUT_SENTENCEPIECE = r"""
import sys
from pathlib import Path

sys.modules["sentencepiece"] = None  # any `import sentencepiece` now raises ImportError
sys.path.insert(0, sys.argv[2])
from tiny_snapshots import write_tiny_snapshots

from audiogen_core.checkpoints import load_text_encoder

root = write_tiny_snapshots(Path(sys.argv[1]), multilingual=False)
encoder = load_text_encoder(root / "flan-t5-large")
print(" ".join([*sorted(p.name for p in root.iterdir()), encoder.family]))
"""


def test_english_tiny_snapshots_need_no_sentencepiece(tmp_path):
    """The English test snapshots are written and load where sentencepiece cannot be imported."""
    support = Path(__file__).resolve().parents[1] / "support"
    argv = [sys.executable, "-c", ENGLISH_WITHOUT_SENTENCEPIECE, str(tmp_path), str(support)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Dasheng-AudioGen", "dashengtokenizer", "flan-t5-large", "t5"]
    refused = "import sys; sys.modules['sentencepiece'] = None; import sentencepiece"
    check = subprocess.run([sys.executable, "-c", refused], capture_output=True)
    assert check.returncode != 0  # the stand-in really makes the import fail


NO_COMPILER = r"""
import sys

from audiogen_core.pipeline import AudioGenPipeline

pipe = AudioGenPipeline.from_model_dir(sys.argv[1], include_audio_encoder=True)
pipe.generate("<|caption|> rain", seed=0, steps=2, duration_s=1.0)
print("torch._dynamo" in sys.modules)
"""


def test_loading_and_generating_never_import_the_compiler(tiny_model_dir):
    """Models are built on the meta device without arithmetic there: meta arithmetic runs
    torch's reference ops, whose first use imports torch._dynamo (over a second per load)."""
    argv = [sys.executable, "-c", NO_COMPILER, str(tiny_model_dir)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"]
