"""Every malformed snapshot folder is a WeightsError that names the file and the key.

Each case damages a private copy of one tiny snapshot the way a bad download, a hand edit or a
wrong file would, and checks the message. None of them may surface as a ZeroDivisionError,
TypeError or "probably truncated" guess, and none may load.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from audiogen_core.checkpoints import (
    WeightsError,
    load_audio_tokenizer,
    load_generator,
    load_text_encoder,
)
from audiogen_core.pipeline import AudioGenPipeline

LOADERS = {
    "Dasheng-AudioGen": load_generator,
    "dashengtokenizer": load_audio_tokenizer,
    "flan-t5-large": load_text_encoder,
}


def _set_config(**changes) -> Callable[[Path], str]:
    def damage(folder: Path) -> str:
        path = folder / "config.json"
        config = json.loads(path.read_text())
        config.update(changes)
        path.write_text(json.dumps(config))
        return str(path)

    return damage


def _drop_config(key: str) -> Callable[[Path], str]:
    def damage(folder: Path) -> str:
        path = folder / "config.json"
        config = json.loads(path.read_text())
        del config[key]
        path.write_text(json.dumps(config))
        return str(path)

    return damage


def _write_config(text: str) -> Callable[[Path], str]:
    def damage(folder: Path) -> str:
        (folder / "config.json").write_text(text)
        return str(folder / "config.json")

    return damage


def _config_is_a_folder(folder: Path) -> str:
    (folder / "config.json").unlink()
    (folder / "config.json").mkdir()
    return str(folder / "config.json")


def _index(weight_map) -> Callable[[Path], str]:
    def damage(folder: Path) -> str:
        path = folder / "model.safetensors.index.json"
        path.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
        return str(path)

    return damage


def _index_entry(name: str) -> Callable[[Path], str]:
    def damage(folder: Path) -> str:
        keys = load_file(str(folder / "model.safetensors"))
        weight_map = {key: "model.safetensors" for key in keys}
        weight_map[next(iter(keys))] = name
        return _index(weight_map)(folder)

    return damage


def _integer_tensor(key: str) -> Callable[[Path], str]:
    def damage(folder: Path) -> str:
        path = folder / "model.safetensors"
        tensors = {name: value.clone() for name, value in load_file(str(path)).items()}
        tensors[key] = torch.ones_like(tensors[key], dtype=torch.int32)
        path.unlink()  # the loaded tensors may still map the old file
        save_file(tensors, str(path))
        return str(folder)

    return damage


def _torch_save_renamed(folder: Path) -> str:
    path = folder / "model.safetensors"
    tensors = {key: value.clone() for key, value in load_file(str(path)).items()}
    path.unlink()  # the loaded tensors may still map the old file
    torch.save(tensors, path)  # torch.save's zip format, under the wrong name
    return str(path)


def _pickle_renamed(folder: Path) -> str:
    path = folder / "model.safetensors"
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    return str(path)


def _link_loop(name: str) -> Callable[[Path], str]:
    def damage(folder: Path) -> str:
        path = folder / name
        path.unlink()
        os.symlink(path.name, path)  # a link to itself
        return str(path)

    return damage


# (snapshot folder, damage, what the message must say besides the path the damage returns)
CASES = {
    "config is a list": ("Dasheng-AudioGen", _write_config("[]"), "a JSON object"),
    "config is null": ("dashengtokenizer", _write_config("null"), "but holds null"),
    "config is a string": ("flan-t5-large", _write_config('"t5"'), "but holds a string"),
    "config is a folder": ("Dasheng-AudioGen", _config_is_a_folder, "is a folder"),
    "field is text": (
        "Dasheng-AudioGen",
        _set_config(latent_dim="abc"),
        "'latent_dim' must be a whole number >= 1, got \"abc\"",
    ),
    "integer field is fractional": (
        "dashengtokenizer",
        _set_config(depth=2.5),
        "'depth' must be a whole number >= 1, got 2.5",
    ),
    "ratio is zero": (
        "Dasheng-AudioGen",
        _set_config(downsampling_ratio=0),
        "'downsampling_ratio' must be a whole number >= 1, got 0",
    ),
    "tokenizer hop is zero": (
        "dashengtokenizer",
        _set_config(istft_hop=0),
        "'istft_hop' must be a whole number >= 1, got 0",
    ),
    "float field is zero": (
        "Dasheng-AudioGen",
        _set_config(frame_resolution=0),
        "'frame_resolution' must be a number > 0",
    ),
    "field is null": (
        "flan-t5-large",
        _set_config(d_model=None),
        "'d_model' must be a whole number >= 1, got null",
    ),
    "field is missing": ("flan-t5-large", _drop_config("d_model"), "has no 'd_model' entry"),
    "field is a bool": ("flan-t5-large", _set_config(num_layers=True), "'num_layers' must be"),
    "optional field is negative": (
        "flan-t5-large",
        _set_config(layer_norm_epsilon=-1e-6),
        "'layer_norm_epsilon' must be a number > 0",
    ),
    "weight_map is a list": ("Dasheng-AudioGen", _index(["model.safetensors"]), "'weight_map'"),
    "weight_map is missing": ("Dasheng-AudioGen", _index(None), "'weight_map' must be"),
    "index entry is not a name": (
        "dashengtokenizer",
        _index_entry(7),  # type: ignore[arg-type]
        "must be a shard file name, got 7",
    ),
    "index entry climbs out": (
        "Dasheng-AudioGen",
        _index_entry("../dashengtokenizer/model.safetensors"),
        "points outside the snapshot folder",
    ),
    "index entry is absolute": (
        "Dasheng-AudioGen",
        _index_entry("/etc/passwd"),
        "points outside the snapshot folder",
    ),
    "integers where floats belong": (
        "Dasheng-AudioGen",
        _integer_tensor("dummy_ta_embed"),
        "dummy_ta_embed: file holds integers, model needs floats",
    ),
    "torch.save file renamed": (
        "dashengtokenizer",
        _torch_save_renamed,
        "is a zip archive (torch.save's pickle format), not safetensors",
    ),
    "pickle renamed": ("flan-t5-large", _pickle_renamed, "is a pickle (protocol 4)"),
    "config link loop": ("Dasheng-AudioGen", _link_loop("config.json"), "link loop"),
    "weights link loop": ("dashengtokenizer", _link_loop("model.safetensors"), "link loop"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_folder_is_a_weights_error_naming_file_and_key(case, tiny_model_dir, tmp_path):
    name, damage, expected = CASES[case]
    folder = shutil.copytree(tiny_model_dir / name, tmp_path / name)
    named = damage(folder)
    with pytest.raises(WeightsError) as caught:
        LOADERS[name](folder)
    message = str(caught.value)
    assert expected in message, message
    assert named in message, message


def test_folder_that_is_a_link_loop(tmp_path):
    loop = tmp_path / "Dasheng-AudioGen"
    os.symlink(loop.name, loop)
    with pytest.raises(WeightsError, match="link loop"):
        load_generator(loop)


def test_generator_and_tokenizer_rates_must_agree(tiny_model_dir, tmp_path):
    models = shutil.copytree(tiny_model_dir, tmp_path / "models")
    _set_config(sample_rate=32000)(models / "Dasheng-AudioGen")  # 50 frames/s at 32 kHz
    with pytest.raises(WeightsError, match="do not belong together.*50 frames/s.*25 frames/s"):
        AudioGenPipeline.from_model_dir(models, device="cpu", dtype="fp32")


def test_decode_refuses_a_latent_of_another_frame_rate(pipe):
    import dataclasses

    latent = pipe.sample(pipe.encode_prompt("<|caption|> rain"), steps=1, duration_s=0.4)
    with pytest.raises(ValueError, match="50 frames/s .* decodes 25 frames/s"):
        pipe.decode(dataclasses.replace(latent, frame_rate=50))
