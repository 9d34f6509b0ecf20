"""Random full-size snapshots in the official layout, for the end-to-end benchmarks.

``write_random_snapshots(root)`` writes ``root/Dasheng-AudioGen``, ``root/dashengtokenizer``
and ``root/flan-t5-large`` with the official configs and every key, shape and dtype the
official safetensors hold (from the golden manifests, which list the reference modules' state
dicts), in float32 as the official snapshots ship: about 8.7 GB + 3.2 GB + 1.4 GB. Only the
values are random. Each file is streamed to disk tensor by tensor, so writing needs little
memory. Two departures, both irrelevant to what the loaders read: the flan-t5 file leaves out
the decoder half (the loader skips it; it would only add 1.8 GB of disk), and the T5
tokenizer.json is the small test tokenizer (flan-t5's own is not bundled; prompts become more,
shorter tokens).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
SAFETENSORS_DTYPE = {"float32": "F32", "int64": "I64"}
# flan-t5-large's published config (the manifest holds the architecture values).
T5_CONFIG_EXTRA = {
    "model_type": "t5",
    "architectures": ["T5ForConditionalGeneration"],
    "num_decoder_layers": 24,
    "is_gated_act": True,
    "dense_act_fn": "gelu_new",
    "n_positions": 512,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
}


def _manifest(name: str) -> dict:
    return json.loads((GOLDEN / f"manifest_{name}.json").read_text())


def _random_value(key: str, shape: list[int], dtype: str, generator: torch.Generator, config):
    if dtype == "int64":  # instruction_lengths: the instruction's token count; BN step counter
        fill = config.get("instruction_seq_len", 0) if key == "instruction_lengths" else 0
        return torch.full(shape, fill, dtype=torch.int64)
    if len(shape) == 1 and ("norm" in key or key.endswith(("running_var", "gamma"))):
        return torch.ones(shape)  # norm gains near 1 keep activations in range in fp16
    if len(shape) == 1 and key.endswith(("bias", "running_mean")):
        return torch.zeros(shape)
    return torch.randn(shape, generator=generator) * 0.02


def write_streamed_safetensors(path: Path, entries: list[tuple[str, list[int], str]], make):
    """A safetensors file whose tensors ``make(key, shape, dtype)`` builds one at a time."""
    header, offset = {}, 0
    for key, shape, dtype in entries:
        nbytes = (8 if dtype == "int64" else 4) * int(torch.Size(shape).numel())
        header[key] = {
            "dtype": SAFETENSORS_DTYPE[dtype],
            "shape": shape,
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    tmp = path.with_suffix(".partial")
    with open(tmp, "wb") as handle:
        handle.write(len(encoded).to_bytes(8, "little"))
        handle.write(encoded)
        for key, shape, dtype in entries:
            handle.write(make(key, shape, dtype).contiguous().numpy().tobytes())
    tmp.replace(path)


def _write_snapshot(folder: Path, config: dict, entries, seed: int) -> None:
    if (folder / "model.safetensors").is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    write_streamed_safetensors(
        folder / "model.safetensors",
        entries,
        lambda key, shape, dtype: _random_value(key, shape, dtype, generator, config),
    )
    (folder / "config.json").write_text(json.dumps(config, indent=1))


def write_random_snapshots(root: Path) -> Path:
    """The three official snapshot folders with random weights under ``root`` (kept if there)."""
    root = Path(root)
    for name, folder, seed in (
        ("generator", "Dasheng-AudioGen", 0),
        ("tokenizer", "dashengtokenizer", 1),
    ):
        manifest = _manifest(name)
        entries = [(k["key"], k["shape"], k["dtype"]) for k in manifest["keys"]]
        print(f"writing {root / folder} ...", file=sys.stderr, flush=True)
        _write_snapshot(root / folder, manifest["config"], entries, seed)

    t5 = _manifest("t5_encoder")
    # The official file stores the tied embedding once, as shared.weight.
    entries = [
        (k["key"], k["shape"], k["dtype"])
        for k in t5["keys"]
        if k["key"] != "encoder.embed_tokens.weight"
    ]
    print(f"writing {root / 'flan-t5-large'} ...", file=sys.stderr, flush=True)
    _write_snapshot(root / "flan-t5-large", t5["config"] | T5_CONFIG_EXTRA, entries, 2)
    tokenizer_json = root / "flan-t5-large" / "tokenizer.json"
    if not tokenizer_json.is_file():
        sys.path.insert(0, str(ROOT / "tests" / "support"))
        from t5_test_tokenizer import build_t5_tokenizer

        build_t5_tokenizer().save(str(tokenizer_json))
    return root
