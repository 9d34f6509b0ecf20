"""Per-token durations and the alignment of adapted content along the latent frames.

The content adapter predicts a log-duration per token. The model's time-aligned path (spec
6.3-6.4b) turns them into whole latent frames per token and repeats each token's content over
its frames; the DiT then receives that per-frame content as its time-aligned input. Text-to-
audio computes none of it (every frame gets ``dummy_ta_embed``), so only the time-aligned
conditionings use this module.

Two layouts share one path builder: the model's own timing (token ``k`` covers frames
``[C_{k-1}, C_k)`` with ``C`` the running sum of its frames, exactly the reference), and the
same tokens stretched or squeezed over a given frame range in proportion to their frames.

einops legend: b batch, l tokens, t latent frames, c channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor


def local_latent_frames(
    local_log: Tensor,
    mask: Tensor,
    frame_rate: int,
    frame_resolution: float,
    duration_offset: float,
) -> Tensor:
    """Frames per token (float32): round_half_even(((ceil(exp(l) m) - offset) * res) * rate).

    The reference's operation order in float32 (spec 6.3): the float32 rounding of
    ``frame_resolution`` decides the x.5 ties (60 units -> 7 frames, where exact arithmetic
    gives 8). Padded tokens give -0.0.
    """
    units = torch.ceil(torch.exp(local_log.float()) * mask.bool()) - duration_offset
    return torch.round(units * frame_resolution * frame_rate)


def alignment_path(starts: Tensor, ends: Tensor, num_frames: int) -> Tensor:
    """(b, l) first and end frames of each token -> (b, l, t) bool, token l covering [s, e)."""
    frames = torch.arange(num_frames, device=starts.device)
    return (frames >= starts[..., None]) & (frames < ends[..., None])


def expand_by_duration(
    content: Tensor, content_mask: Tensor, local_frames: Tensor, latent_mask: Tensor
) -> Tensor:
    """The reference's expansion: each token's content repeated over its frames, (b, t, c).

    Token l covers frames [int(C_{l-1}), int(C_l)) with C the running sum of ``local_frames``,
    restricted to valid tokens and to each item's valid frames (``latent_mask`` (b, t)).
    """
    ends = torch.cumsum(local_frames, dim=1).long()
    starts = F.pad(ends, (1, 0))[:, :-1]
    path = alignment_path(starts, ends, latent_mask.shape[1])
    path = path & content_mask.bool()[..., None] & latent_mask.bool()[:, None, :]
    return torch.matmul(rearrange(path, "b l t -> b t l").to(content.dtype), content)


def spread_token_ends(local_frames: Tensor, mask: Tensor, start: int, end: int) -> Tensor:
    """End frame of each token (l,) int64 when one prompt's tokens share frames [start, end).

    Each token gets a share of the range in proportion to its predicted frames (whole frames,
    boundaries rounded down, the last token ending exactly at ``end``); a range as long as the
    prompt's own timing gives exactly that timing. When the model gives every token zero
    frames, the tokens share the range equally. Padded tokens end where the last valid one does.
    """
    if end <= start:
        raise ValueError(f"a token range needs at least one frame, got [{start}, {end})")
    valid = mask.bool()
    frames = torch.where(valid, local_frames.float(), 0.0).round().long()
    if int(frames.sum()) == 0:
        frames = valid.long()
    cumulative = torch.cumsum(frames, dim=0)
    # Integer arithmetic, so the model's own timing (span == total) comes out exactly.
    return start + cumulative * (end - start) // int(cumulative[-1])


def lay_over_range(
    content: Tensor, mask: Tensor, local_frames: Tensor, start: int, end: int, num_frames: int
) -> Tensor:
    """One prompt's tokens (l, c) laid over frames [start, end) of ``num_frames``: (t, c).

    Frames outside the range are zero. See ``spread_token_ends`` for how the range is shared.
    """
    if not 0 <= start < end <= num_frames:
        raise ValueError(f"frames [{start}, {end}) do not fit in a clip of {num_frames} frames")
    ends = spread_token_ends(local_frames, mask, start, end)
    starts = F.pad(ends, (1, 0), value=start)[:-1]
    path = alignment_path(starts[None], ends[None], num_frames)[0] & mask.bool()[:, None]
    return torch.matmul(rearrange(path, "l t -> t l").to(content.dtype), content)


def pad_frames(content: Tensor, num_frames: int) -> Tensor:
    """(b, t, c) zero-padded along t to ``num_frames`` (the reference's trim_or_pad_length)."""
    if content.shape[1] > num_frames:
        raise ValueError(f"content covers {content.shape[1]} frames, more than {num_frames}")
    return F.pad(content, (0, 0, 0, num_frames - content.shape[1]))
