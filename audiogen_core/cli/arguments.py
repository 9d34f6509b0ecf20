"""The options several subcommands share, declared once: defaults, limits and help come from
``SETTINGS`` (sampling), ``runtime.devices`` and ``models.ops`` (devices and dtypes), so that
the command line, the Python API and the nodes cannot drift apart.

Flag names follow docs/glossary.md: durations in seconds drop the ``_s`` of the Python names
(``--duration`` for ``duration_s``, with metavar SECONDS); other units stay in the name
(``--target-lufs``). A flag renamed to the glossary's word keeps its old spelling as an alias.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from ..checkpoints.weights import DEFAULT_MODEL_DIR_ENV
from ..models.ops import WEIGHT_DTYPE_CHOICES
from ..runtime.devices import DEVICE_CHOICES, DTYPE_CHOICES
from ..sampling.settings import SETTINGS

WAV_FORMATS = ("pcm16", "float")
MULTILINGUAL_HELP = (
    "use the multilingual checkpoint: Dasheng-AudioGen-Multilingual/ with mt5-large/ "
    "instead of Dasheng-AudioGen/ with flan-t5-large/"
)


class UsageError(Exception):
    """A command line argparse refused (unknown option, mistyped choice, missing value)."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one ``error:`` line, not the whole usage text.

    argparse's own messages already name the option and, for a mistyped choice, list the
    valid values; the usage of ``generate`` alone is 27 lines that would bury them.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see: {self.prog} --help)")


def _range(bounds: tuple[float, float]) -> str:
    return f"{bounds[0]:g} to {bounds[1]:g}"


def add_sampling_arguments(parser: argparse.ArgumentParser, *, for_batch: bool = False) -> None:
    """--duration, --steps, --guidance, --sway, --seed and --variations. In a batch run they
    are the values of jobs that do not set their own."""
    unset = " for jobs without their own" if for_batch else ""
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"exact length in seconds{unset}, at most {SETTINGS.max_duration_s:g} "
        "(default: the model's predicted length)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=SETTINGS.steps,
        help=f"sampling steps{unset} (default {SETTINGS.steps}, {_range(SETTINGS.steps_range)})",
    )
    parser.add_argument(
        "--guidance",
        type=float,
        default=SETTINGS.guidance,
        help=f"classifier-free guidance scale (ComfyUI's cfg){unset} (default "
        f"{SETTINGS.guidance:g}, {_range(SETTINGS.guidance_range)}; <= 1 turns it off)",
    )
    parser.add_argument(
        "--sway",
        type=float,
        default=SETTINGS.sway,
        help=f"sway-sampling coefficient{unset} (default {SETTINGS.sway:g}, "
        f"{_range(SETTINGS.sway_range)}; 0 = uniform steps)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=SETTINGS.seed,
        help=f"seed of the starting noise{unset} (default {SETTINGS.seed}, 0 to 2**64 - 1"
        + ("" if for_batch else f"; {SETTINGS.random_seed} = pick one and print it")
        + ")",
    )
    parser.add_argument(
        "--variations",
        type=int,
        default=SETTINGS.variations,
        help=f"variations per prompt{unset} (default {SETTINGS.variations}, at most "
        f"{SETTINGS.variations_range[1]}): seeds seed, seed+1, ...; files get _00, _01, ...",
    )


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """--device, --dtype and --weight-dtype."""
    parser.add_argument(
        "--device",
        default="auto",
        choices=DEVICE_CHOICES,
        help="where the models compute (default auto: a CUDA GPU, else Apple MPS, else the "
        "CPU; under torchrun each process takes cuda:LOCAL_RANK)",
    )
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=DTYPE_CHOICES,
        help="compute precision (default auto: bf16 on GPUs that support it, fp16 on other "
        "GPUs and MPS; on the CPU bf16 where it computes bf16 natively, else fp32)",
    )
    parser.add_argument(
        "--weight-dtype",
        default=SETTINGS.weight_dtype,
        choices=WEIGHT_DTYPE_CHOICES,
        help="how the Linear and convolution weights are stored, cast to --dtype as each layer "
        f"runs (default {SETTINGS.weight_dtype!r}: in --dtype itself); fp8 halves bf16's "
        "weight memory",
    )


def add_format_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        default=WAV_FORMATS[0],
        choices=WAV_FORMATS,
        help="WAV sample format (default pcm16: 16-bit PCM; float: 32-bit float)",
    )


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the three snapshots are: --model-dir, or each folder, and --download."""
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="folder holding Dasheng-AudioGen/, dashengtokenizer/ and "
        f"flan-t5-large/ (or the --multilingual folders) (default: ${DEFAULT_MODEL_DIR_ENV})",
    )
    parser.add_argument("--generator", type=Path, default=None, help="Dasheng-AudioGen folder")
    parser.add_argument(
        "--audio-tokenizer", type=Path, default=None, help="dashengtokenizer folder"
    )
    parser.add_argument(
        "--text-encoder", type=Path, default=None, help="flan-t5-large (or mt5-large) folder"
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="fetch missing snapshots into --model-dir first (needs internet and huggingface_hub)",
    )
    parser.add_argument("--multilingual", action="store_true", help=MULTILINGUAL_HELP)
