"""The official generator config and the size options the generator benchmarks share.

The benchmarks build random generators of the official architecture at a chosen size: the
config comes from the golden manifest (the reference's own config.json values) with the
widths, depth and heads replaced.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OFFICIAL_CONFIG = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "fixtures"
    / "golden"
    / "manifest_generator.json"
)


def official_generator_config() -> dict:
    """The official generator config.json as a dict."""
    return json.loads(OFFICIAL_CONFIG.read_text())["config"]


def add_size_arguments(parser: argparse.ArgumentParser, latent_dim: int, content_dim: int) -> None:
    """--embed-dim, --depth, --heads, --latent-dim, --content-dim, --frames and --tokens."""
    parser.add_argument("--embed-dim", type=int, default=512, help="DiT width (official 1536)")
    parser.add_argument("--depth", type=int, default=12, help="dit_depth (official 32)")
    parser.add_argument(
        "--heads", type=int, default=8, help="DiT attention heads (official 24; head width 64)"
    )
    parser.add_argument(
        "--latent-dim", type=int, default=latent_dim, help="latent width (official 1280)"
    )
    parser.add_argument(
        "--content-dim", type=int, default=content_dim, help="text width (official 1024)"
    )
    parser.add_argument("--frames", type=int, default=250, help="latent frames (25 per second)")
    parser.add_argument("--tokens", type=int, default=40, help="prompt tokens")


def add_sampling_arguments(parser: argparse.ArgumentParser, steps: int, repeats: int) -> None:
    """--steps, --guidance, --repeats, --device and --dtype of a timed sampling benchmark."""
    parser.add_argument("--steps", type=int, default=steps, help="sampling steps")
    parser.add_argument(
        "--guidance", type=float, default=5.0, help="CFG scale (> 1 doubles the batch)"
    )
    parser.add_argument("--repeats", type=int, default=repeats, help="timed calls per case")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    parser.add_argument("--dtype", default="fp32", help="fp32, bf16, fp16 or auto")


def resized_generator_config(args: argparse.Namespace) -> dict:
    """The official config with the sizes given by ``add_size_arguments``' options."""
    config = official_generator_config()
    config.update(
        latent_dim=args.latent_dim,
        dit_in_chans=args.latent_dim,
        dit_out_chans=args.latent_dim,
        content_dim=args.content_dim,
        task_instruction_dim=args.content_dim,
        dit_context_dim=args.content_dim,
        dit_ta_context_dim=args.content_dim,
        dit_embed_dim=args.embed_dim,
        dit_depth=args.depth,
        dit_num_heads=args.heads,
    )
    return config
