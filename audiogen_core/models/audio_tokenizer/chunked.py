"""Running the audio tokenizer on inputs of any length: decode in pieces, encode item by item.

Decoding: a latent longer than ``chunk_frames`` is decoded in pieces of that many frames, each
with the decoder's reach of extra frames on both sides (``decode_context_frames``) whose
samples are dropped, so memory follows the piece and the audio is that of a single pass, with
no seams. 750 frames (30 s) decode in one pass.

Encoding: items are encoded one at a time so that a clip's latent does not depend on what else
is in the batch (the reference's dB floor is a batch-wide maximum).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .model import DashengAudioTokenizer

DECODE_CHUNK_FRAMES = 750


def decode_in_pieces(
    tokenizer: DashengAudioTokenizer,
    latent: Tensor,
    num_samples: Sequence[int],
    chunk_frames: int = DECODE_CHUNK_FRAMES,
    check: Callable[[Tensor], None] | None = None,
) -> Tensor:
    """Latent (B, C, T) -> waveform (B, 1, max(num_samples)) float32 on the CPU.

    Item ``i`` is cut to ``num_samples[i]`` (zero past its end). ``check`` sees every decoded
    piece (float32, CPU) before any of it is kept.
    """
    if not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise ValueError(f"chunk_frames must be a whole number >= 1, got {chunk_frames!r}")
    count = latent.shape[-1]
    per_frame = int(tokenizer.samples_per_frame)
    out = torch.zeros((latent.shape[0], 1, max(num_samples)), dtype=torch.float32)
    context = int(tokenizer.decode_context_frames) if count > chunk_frames else 0
    for first in range(0, count, chunk_frames):
        stop = min(first + chunk_frames, count)
        lo, hi = max(first - context, 0), min(stop + context, count)
        piece = latent[..., lo:hi].to(tokenizer.device, tokenizer.dtype)
        decoded = tokenizer.decode(piece).float().cpu()
        if check is not None:
            check(decoded)
        decoded = decoded[:, (first - lo) * per_frame : (stop - lo) * per_frame]
        begin = first * per_frame
        for i, n in enumerate(num_samples):
            keep = min(n - begin, decoded.shape[-1])
            if keep > 0:
                out[i, 0, begin : begin + keep] = decoded[i, :keep]
    return out


def encode_items(tokenizer: DashengAudioTokenizer, clips: Sequence[Tensor]) -> Tensor:
    """Mono waveforms (N,) at the tokenizer's rate, all as long -> latents (B, C, T) float32
    on the CPU, each encoded alone."""
    latents = []
    for clip in clips:
        # float32 in: the tokenizer's front-ends run in float32 whatever its precision.
        latents.append(tokenizer.encode(clip[None])[0].float().cpu())
    if len({lat.shape[-1] for lat in latents}) != 1:
        raise ValueError("all clips of an AUDIO batch must have the same length")
    return torch.stack(latents)
