"""The pack's conditioning as ComfyUI's CONDITIONING and an empty LATENT (plain torch).

A CONDITIONING is a list of ``[context, dict]`` entries; ComfyUI hands the tensor to the model
as ``cross_attn`` and every dict entry to its ``extra_conds`` (``model.py``). One entry holds
the DiT's inputs for every batch item: the adapted prompt (context), its token mask, the
time-aligned input and the items' valid lengths.

* positive: the prompt as the pack's Sampler feeds it (text-to-audio: ``dummy_ta_embed`` on
  every frame; aligned: the per-frame layout). Timed prompts of the blend mode become one entry
  each with a ComfyUI ``mask`` along time holding its blend weights: ComfyUI averages the
  entries' outputs weighted by their masks, and the weights sum to 1 on every frame, which is
  the pack's per-frame blend of velocities.
* negative: the model's own unconditional inputs, as the official sampler builds them: zero
  context under the same mask and zero time-aligned input; or, with a negative prompt, that
  prompt's text-to-audio inputs at the positive's lengths.
* latent: zeros (batch, latent_dim, frames) with ``"type": "audio"``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from audiogen_core.pipeline import (
    AudioGenPipeline,
    Conditioning,
    item_lengths,
    with_blend_weights,
)
from audiogen_core.sampling.timegrid import TimeGrid

from . import keys, latents

Entry = list  # [context (b, tokens, c), {name: value}]


@dataclass
class NativeInputs:
    positive: list[Entry]
    negative: list[Entry]
    latent: dict


def native_inputs(
    generator,
    conditioning: Conditioning,
    duration_s: float | None,
    batch_size: int,
    time_mode: str,
    negative_prompt: Conditioning | None = None,
) -> NativeInputs:
    """What ComfyUI's samplers need to reproduce ``AudioGenPipeline.sample(conditioning,
    duration_s=duration_s, variations=batch_size)`` in ``time_mode``: items laid out and
    sized exactly as the pack's Sampler does it (``item_lengths``)."""
    pipe = AudioGenPipeline(generator=generator)
    cond = pipe.apply_time_mode(conditioning, time_mode, duration_s)
    frame_rate, sample_rate = int(generator.frame_rate), int(generator.sample_rate)
    grid = TimeGrid(frame_rate=frame_rate, sample_rate=sample_rate)
    layout = item_lengths(cond, duration_s, batch_size, grid)
    tensors, frames = layout.tensors, layout.num_frames
    if cond.timed:
        tensors = with_blend_weights(tensors, cond.timed, grid, frames)
    base = _entry(generator, tensors, frames)
    positive = [base]
    if tensors.timed is not None:
        positive = _blended(generator, tensors, frames)
    negative = [_unconditional(base)]
    if negative_prompt is not None:
        negative = [_negative_prompt(generator, negative_prompt, tensors, frames)]
    latent = latents.empty(
        tensors.batch_size, int(generator.latent_dim), frames, layout.num_samples, grid
    )
    return NativeInputs(positive, negative, latent)


def _entry(generator, tensors, frames: int, mask: Tensor | None = None) -> Entry:
    """One CONDITIONING entry with the DiT's inputs for ``tensors`` (one row per item)."""
    if tensors.time_aligned is None:
        dummy = generator.dummy_ta_embed.detach().to("cpu", tensors.context.dtype)
        time_aligned = dummy.reshape(1, 1, -1).expand(tensors.batch_size, 1, -1).clone()
    else:
        time_aligned = tensors.time_aligned[:, :frames].cpu()
    extras = {
        keys.CONTEXT_MASK: tensors.context_mask.cpu().long(),
        keys.TIME_ALIGNED: time_aligned,
        keys.LENGTHS: tensors.latent_lengths.cpu().long(),
        keys.FRAMES: frames,
    }
    if mask is not None:
        extras["mask"] = mask.float().cpu()
    return [tensors.context.cpu(), extras]


def _unconditional(entry: Entry) -> Entry:
    """The official unconditional inputs of an entry: zero context (same mask), zero
    time-aligned input."""
    context, extras = entry
    extras = dict(extras)
    extras[keys.TIME_ALIGNED] = torch.zeros_like(extras[keys.TIME_ALIGNED])
    return [torch.zeros_like(context), extras]


def _rows_for_items(prompt, items):
    """A one-row prompt's conditioning for every item, at the items' lengths."""
    rows = prompt.expand(items.batch_size) if items.batch_size > 1 else prompt
    return dataclasses.replace(
        rows,
        latent_lengths=items.latent_lengths,
        global_duration_log=items.global_duration_log,
    )


def _blended(generator, tensors, frames: int) -> list[Entry]:
    """One entry per prompt heard somewhere, masked by its blend weights; a prompt with weight
    0 on every valid frame is left out, and a prompt heard alone is a plain entry (the pack's
    Sampler evaluates them the same way)."""
    timed = tensors.timed
    base = dataclasses.replace(tensors, timed=None)
    weights = timed.weights[:, :, :frames].float()
    valid = torch.arange(frames)[None, :] < base.latent_lengths.cpu()[:, None]
    active = ((weights != 0) & valid[:, None, :]).any(dim=2).any(dim=0)
    chosen = [i for i in range(weights.shape[1]) if bool(active[i])] or [0]
    prompts = [base, *timed.prompts]
    rows = [base if i == 0 else _rows_for_items(prompts[i], base) for i in chosen]
    if len(chosen) == 1:
        return [_entry(generator, rows[0], frames)]
    return [
        _entry(generator, row, frames, weights[:, i]) for row, i in zip(rows, chosen, strict=True)
    ]


def _negative_prompt(generator, negative: Conditioning, tensors, frames: int) -> Entry:
    """A negative prompt's text-to-audio inputs for every item, at the positive's lengths."""
    rows = negative.tensors
    if rows.time_aligned is not None or negative.timed:
        raise ValueError(
            "the negative prompt must be a plain encoded prompt (AudioGen Text Encode), "
            "without timed prompts or an aligned layout"
        )
    if rows.batch_size not in (1, tensors.batch_size):
        raise ValueError(
            f"the negative conditioning holds {rows.batch_size} prompts for "
            f"{tensors.batch_size} items: give one negative prompt"
        )
    if rows.batch_size == 1:
        rows = rows.expand(tensors.batch_size) if tensors.batch_size > 1 else rows
    rows = dataclasses.replace(
        rows,
        latent_lengths=tensors.latent_lengths,
        global_duration_log=tensors.global_duration_log,
    )
    return _entry(generator, rows, frames)
