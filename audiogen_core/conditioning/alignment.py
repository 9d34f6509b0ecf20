"""Time-aligned layouts: adapted content laid along the latent frames.

The content adapter predicts a log-duration per token, which the generator turns into whole
latent frames per token (``models.adapter.local_latent_frames``). The model's time-aligned path
(spec 6.3-6.4b) repeats each token's content over its frames; the DiT then receives that
per-frame content as its time-aligned input. Text-to-audio computes none of it (every frame
gets ``dummy_ta_embed``), so only the time-aligned conditionings use this module.

Two layouts share one path builder: the model's own timing (token ``k`` covers frames
``[C_{k-1}, C_k)`` with ``C`` the running sum of its frames, exactly the reference), and the
same tokens stretched or squeezed over a given frame range in proportion to their frames.

einops legend: b batch, l tokens, t latent frames, c channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from ..models.adapter import frames_mask
from ..models.generator import DashengAudioGenerator
from .encoded import Conditioning, ConditioningTensors
from .timeline import Timeline


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


@torch.no_grad()
def align(
    generator: DashengAudioGenerator,
    cond: ConditioningTensors,
    items: Tensor | None = None,
    frames: int | None = None,
) -> ConditioningTensors:
    """The model's time-aligned path (spec 6.4b) for the items flagged in ``items`` (b,).

    ``items=None`` flags every item. A flagged item's content is laid along the frames by
    its per-token durations and becomes its time-aligned input; its cross-attention
    context becomes ``dummy_nta_embed`` with only position 0 valid. Its length is the sum
    of its token frames (``frames=None``: the reference exactly), or ``frames``, the
    tokens then stretched or squeezed in proportion (:func:`spread_token_ends`).
    Unflagged items stay text-to-audio (``dummy_ta_embed`` on every frame, own context).
    """
    if cond.time_aligned is not None:
        raise ValueError("this conditioning is already time-aligned; align the prompt once")
    batch = cond.batch_size
    device = cond.context.device
    flags = (
        torch.ones(batch, dtype=torch.bool, device=device)
        if items is None
        else items.to(device=device, dtype=torch.bool)
    )
    if tuple(flags.shape) != (batch,):
        raise ValueError(f"items must be one flag per item ({batch},), got {tuple(flags.shape)}")
    own = cond.local_frames.sum(dim=1).long()
    if frames is not None and frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    aligned_lengths = own if frames is None else torch.full_like(own, frames)
    lengths = torch.where(flags, aligned_lengths, cond.latent_lengths.to(device))
    expanded = _expanded_content(cond, flags, lengths, frames)
    dummy_ta = generator.dummy_ta_embed.to(device=device, dtype=expanded.dtype)
    time_aligned = torch.where(flags[:, None, None], expanded, dummy_ta)

    context = cond.context.clone()
    context[flags] = generator.dummy_nta_embed.to(device=device, dtype=context.dtype)
    context_mask = cond.context_mask.clone()
    context_mask[flags, 1:] = False
    # The reference cuts the context to the longest prompt of the items that use it.
    keep = context.shape[1]
    if not bool(flags.all()):
        keep = int(cond.context_mask[~flags].sum(dim=1).max())
    return ConditioningTensors(
        context=context[:, :keep],
        context_mask=context_mask[:, :keep],
        global_duration_log=cond.global_duration_log,
        latent_lengths=lengths,
        local_frames=cond.local_frames[:, :keep],
        time_aligned=time_aligned,
    )


def _expanded_content(
    cond: ConditioningTensors, flags: Tensor, lengths: Tensor, frames: int | None
) -> Tensor:
    """Every item's content along its frames (b, max(lengths), c): the reference's expansion
    for the model's own timing, else each flagged item's tokens spread over ``frames``."""
    num_frames = int(lengths.max())
    if frames is None:
        latent_mask = frames_mask(lengths, num_frames)
        return expand_by_duration(cond.context, cond.context_mask, cond.local_frames, latent_mask)
    rows = zip(cond.context, cond.context_mask, cond.local_frames, flags.tolist(), strict=True)
    return torch.stack(
        [
            lay_over_range(content, mask, local, 0, frames, num_frames)
            if flag
            else content.new_zeros(num_frames, content.shape[-1])
            for content, mask, local, flag in rows
        ]
    )


@torch.no_grad()
def lay_out_timeline(
    generator: DashengAudioGenerator,
    events: ConditioningTensors | None,
    spans: Sequence[tuple[int, int]],
    num_frames: int,
    base: ConditioningTensors | None = None,
) -> ConditioningTensors:
    """One clip of ``num_frames`` with event ``i``'s content laid over frames ``spans[i]``.

    ``events`` holds one text-to-audio conditioning row per event (``None`` for no events);
    each event's tokens share its span in proportion to their predicted frames. Frames no
    event covers get ``dummy_ta_embed`` (what a non-aligned frame gets); frames where
    events overlap get the mean of their contents. The cross-attention context is the
    ``base`` prompt's (one row, its content heard over the whole clip), or without one,
    ``dummy_nta_embed`` as for the model's own time-aligned items.
    """
    given = [c for c in (events, base) if c is not None]
    if any(c.time_aligned is not None for c in given):
        raise ValueError("timeline takes text-to-audio conditionings, not time-aligned ones")
    count = 0 if events is None else events.batch_size
    if len(spans) != count:
        raise ValueError(f"{len(spans)} spans for {count} event prompts")
    if base is not None and base.batch_size != 1:
        raise ValueError(f"the base prompt must be one prompt, got {base.batch_size}")
    if num_frames < 1:
        raise ValueError(f"a timeline needs at least one frame, got {num_frames}")
    device = generator.device
    time_aligned = _events_along_frames(generator, events, spans, num_frames)
    if base is None:
        channels = generator.dummy_nta_embed.shape[0]
        context = generator.dummy_nta_embed.detach().to(device).reshape(1, 1, channels)
        context_mask = torch.ones(1, 1, dtype=torch.bool, device=device)
        local_frames = torch.zeros(1, 1, device=device)
    else:
        base = base.to(device)
        context, context_mask, local_frames = base.context, base.context_mask, base.local_frames
    seconds = torch.tensor([num_frames / generator.frame_rate], device=device)
    return ConditioningTensors(
        context=context,
        context_mask=context_mask,
        global_duration_log=torch.log(seconds + generator.duration_offset),
        latent_lengths=torch.tensor([num_frames], device=device),
        local_frames=local_frames,
        time_aligned=time_aligned[None].to(generator.dtype),
    )


def _events_along_frames(
    generator: DashengAudioGenerator,
    events: ConditioningTensors | None,
    spans: Sequence[tuple[int, int]],
    num_frames: int,
) -> Tensor:
    """(num_frames, c) float32: each frame the mean of the events covering it, else
    ``dummy_ta_embed``."""
    device = generator.device
    channels = generator.dummy_ta_embed.shape[0]
    total = torch.zeros(num_frames, channels, dtype=torch.float32, device=device)
    cover = torch.zeros(num_frames, 1, dtype=torch.float32, device=device)
    rows = []
    if events is not None:
        events = events.to(device)
        rows = zip(events.context, events.context_mask, events.local_frames, strict=True)
    for (start, end), (content, mask, local) in zip(spans, rows, strict=True):
        total += lay_over_range(content, mask, local, start, end, num_frames).float()
        cover[start:end] += 1.0
    dummy_ta = generator.dummy_ta_embed.detach().to(device, torch.float32)
    return torch.where(cover > 0, total / cover.clamp(min=1.0), dummy_ta)


def aligned_timeline(
    generator: DashengAudioGenerator,
    timeline: Timeline,
    events: ConditioningTensors | None,
    event_token_counts: list[int],
    base: Conditioning | None,
    clip_frames: int,
    spans: Sequence[tuple[int, int]],
) -> Conditioning:
    """The aligned time mode's conditioning of ``timeline``: ``events`` (one row per event)
    laid over their ``spans`` of a ``clip_frames`` clip, under the ``base`` prompt (if any)."""
    device = generator.device
    tensors = lay_out_timeline(
        generator,
        None if events is None else events.to(device),
        spans,
        clip_frames,
        base=None if base is None else base.tensors.to(device),
    )
    counts = event_token_counts + (base.token_counts if base else [])
    return Conditioning(
        prompts=[timeline.to_text()],
        tensors=tensors.to("cpu"),
        token_counts=[sum(counts)],
        frame_rate=int(generator.frame_rate),
    )
