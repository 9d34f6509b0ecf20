"""The reference's per-token duration alignment, which text-to-audio computes and then discards.

The official generator expands each token over its predicted frames for every item; for
text-to-audio that alignment is replaced by a constant embedding, so the package does not
carry it. The golden checks keep it to compare the adapter's local durations with the reference.
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

    Padded tokens give -0.0. The float32 rounding of ``frame_resolution`` decides the ties
    (60 units -> 7 frames, where exact arithmetic would give 8).
    """
    units = torch.ceil(torch.exp(local_log.float()) * mask.bool()) - duration_offset
    return torch.round(units * frame_resolution * frame_rate)


def expand_by_duration(
    content: Tensor, content_mask: Tensor, local_frames: Tensor, latent_mask: Tensor
) -> Tensor:
    """Repeat each token's content over its frames: (b, l, c) -> (b, t, c).

    The reference computes this alignment for every item; text-to-audio then replaces it with
    the constant time-aligned embedding, but time-aligned tasks of the same model use it.
    Token l covers frames [int(C_{l-1}), int(C_l)) with C the running sum of ``local_frames``.
    """
    ends = torch.cumsum(local_frames, dim=1).long()
    starts = F.pad(ends, (1, 0))[:, :-1]
    frames = torch.arange(latent_mask.shape[1], device=content.device)
    path = (frames >= starts[..., None]) & (frames < ends[..., None])
    path = path & content_mask.bool()[..., None] & latent_mask.bool()[:, None, :]
    return torch.matmul(rearrange(path, "b l t -> b t l").to(content.dtype), content)
