"""``python -m audiogen_core convert``: the official safetensors as audiogen.cpp's GGUF set.

    python -m audiogen_core convert --to gguf --quant q8_0 --model-dir models/audiogen \\
        --out models/audiogen/dasheng-audiogen-gguf

writes ``t5_encoder.gguf`` (F32), ``dit.gguf`` (F16; ``dit_Q8_0.gguf`` / ``dit_Q4_0.gguf``
for the quantized choices, F32 for ``f32``), ``vocoder.gguf`` (F16; F32 for ``f32``) and the
text encoder's ``spiece.model`` (plus its ``tokenizer.json`` when there is one), the files
audiogen.cpp's converters write from the same snapshots. The folder then works as
``--model-dir`` here and in audiogen.cpp. Existing files are never replaced; the files appear
only once all of them are written.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..checkpoints import DEFAULT_MODEL_DIR_ENV
from ..checkpoints.gguf_layout import QUANT_CHOICES
from .errors import CliError


def add_parser(sub) -> None:
    """The ``convert`` subcommand."""
    convert = sub.add_parser(
        "convert", help="write audiogen.cpp's GGUF files from the official safetensors"
    )
    convert.add_argument("--to", required=True, choices=["gguf"], help="the format to write")
    convert.add_argument(
        "--quant",
        default="f16",
        choices=QUANT_CHOICES,
        help="how the DiT is stored: f16 (dit.gguf, as published), q8_0 (dit_Q8_0.gguf), "
        "q4_0 (dit_Q4_0.gguf) or f32 (dit.gguf); default f16",
    )
    convert.add_argument(
        "--model-dir",
        type=Path,
        default=os.environ.get(DEFAULT_MODEL_DIR_ENV) or None,
        help="folder holding Dasheng-AudioGen/, dashengtokenizer/ and flan-t5-large/ "
        f"(or --multilingual's folders; default: ${DEFAULT_MODEL_DIR_ENV})",
    )
    convert.add_argument("--generator", type=Path, default=None, help="Dasheng-AudioGen folder")
    convert.add_argument(
        "--audio-tokenizer", type=Path, default=None, help="dashengtokenizer folder"
    )
    convert.add_argument("--text-encoder", type=Path, default=None, help="flan-t5-large folder")
    convert.add_argument(
        "--multilingual",
        action="store_true",
        help="convert the multilingual checkpoint (its DiT file names mt5-large as its text "
        "encoder; audiogen.cpp itself runs only the English one)",
    )
    convert.add_argument(
        "--out", type=Path, required=True, help="folder to write the files into (created)"
    )


def run(args: argparse.Namespace) -> int:
    """Convert; problems the user can fix are raised as CliError before anything is written."""
    from tqdm import tqdm

    from ..checkpoints.gguf_layout import GGUF_SUFFIX
    from ..checkpoints.gguf_writer import plan_gguf_set
    from ..checkpoints.snapshots import snapshot_set

    explicit = {
        "generator": args.generator,
        "audio_tokenizer": args.audio_tokenizer,
        "text_encoder": args.text_encoder,
    }
    if args.model_dir is None and not all(explicit.values()):
        raise CliError(
            "Say where the official snapshots are: --model-dir, or all three of --generator, "
            "--audio-tokenizer and --text-encoder."
        )
    folders = {}
    if args.model_dir is not None:
        root = Path(args.model_dir)
        folders = {kind.role: root / kind.folder_name for kind in snapshot_set(args.multilingual)}
        if any(root.glob(f"*{GGUF_SUFFIX}")):  # a GGUF set: --model-dir of generate, not here
            raise CliError(
                f"{root} holds GGUF files; --model-dir here is the folder of the official "
                "safetensors snapshots (Dasheng-AudioGen/, dashengtokenizer/, flan-t5-large/)."
            )
    folders.update({role: path for role, path in explicit.items() if path})
    plan = plan_gguf_set(
        folders["generator"],
        folders["text_encoder"],
        folders["audio_tokenizer"],
        args.out,
        args.quant,
    )
    names = ", ".join(path.name for path in plan.targets)
    print(f"writing {names} into {args.out}", file=sys.stderr)
    with tqdm(
        total=plan.total_bytes, unit="B", unit_scale=True, desc="convert", file=sys.stderr
    ) as bar:
        written = plan.write(lambda done: bar.update(done - bar.n))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0
