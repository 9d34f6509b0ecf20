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

from dataclasses import dataclass

import torch

from audiogen_core.conditioning.blending import with_blend_weights
from audiogen_core.conditioning.encoded import Conditioning, ConditioningTensors
from audiogen_core.conditioning.timegrid import TimeGrid
from audiogen_core.models.generator import DiTInputs
from audiogen_core.pipeline import AudioGenPipeline
from audiogen_core.sampling.guidance import blend_rows, dit_inputs
from audiogen_core.sampling.latent import item_lengths

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
    duration_s=duration_s, variations=batch_size)`` in ``time_mode``: the items sized as the
    pack's Sampler sizes them and the DiT inputs its guidance builds (``sampling.guidance``)."""
    pipe = AudioGenPipeline(generator=generator)
    cond = pipe.apply_time_mode(conditioning, time_mode, duration_s)
    grid = TimeGrid(frame_rate=int(generator.frame_rate), sample_rate=int(generator.sample_rate))
    tensors = cond.tensors.expand(batch_size) if batch_size > 1 else cond.tensors
    prompts = [p for p in cond.prompts for _ in range(batch_size)]
    lengths, num_samples = item_lengths(grid, tensors.latent_lengths, prompts, duration_s, None)
    tensors = tensors.with_lengths(lengths)
    frames = int(lengths.max())
    if cond.timed:
        tensors = with_blend_weights(tensors, cond.timed, grid, frames)
    positive = _positive(generator, tensors, frames)
    # The official unconditional rows: what guidance puts first (zero context under the
    # prompt's mask, zero time-aligned input), one per item.
    guided = dit_inputs(generator, _base(tensors), frames, guided=True)
    negative = [_entry(_rows(guided, 0, tensors.batch_size), frames)]
    if negative_prompt is not None:
        negative = [_negative_prompt(generator, negative_prompt, tensors, frames)]
    latent = latents.empty(tensors.batch_size, int(generator.latent_dim), frames, num_samples, grid)
    return NativeInputs(positive, negative, latent)


def _base(tensors: ConditioningTensors) -> ConditioningTensors:
    return ConditioningTensors(**{**tensors.__dict__, "timed": None})


def _rows(inputs: DiTInputs, first: int, count: int) -> DiTInputs:
    return DiTInputs(*(t[first : first + count] for t in inputs))


def _entry(inputs: DiTInputs, frames: int, mask: torch.Tensor | None = None) -> Entry:
    """One CONDITIONING entry holding the DiT's inputs for its rows (one per item)."""
    extras = {
        keys.CONTEXT_MASK: inputs.context_mask.cpu().long(),
        keys.TIME_ALIGNED: inputs.time_aligned.cpu().clone(),
        keys.LENGTHS: inputs.lengths.cpu().long(),
        keys.FRAMES: frames,
    }
    if mask is not None:
        extras["mask"] = mask.float().cpu()
    return [inputs.context.cpu(), extras]


def _positive(generator, tensors: ConditioningTensors, frames: int) -> list[Entry]:
    """The prompt's entry; with timed prompts, one entry per prompt heard somewhere, masked by
    its blend weights (the Sampler's choice of rows: a prompt with weight 0 on every valid frame
    is left out, one heard alone is a plain entry)."""
    rows, weights = blend_rows(tensors, frames)
    inputs = dit_inputs(generator, rows, frames, guided=False)
    if weights is None:
        return [_entry(inputs, frames)]
    batch = tensors.batch_size
    return [
        _entry(_rows(inputs, i * batch, batch), frames, weights[i, :, 0])
        for i in range(weights.shape[0])
    ]


def _negative_prompt(
    generator, negative: Conditioning, tensors: ConditioningTensors, frames: int
) -> Entry:
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
    if rows.batch_size == 1 and tensors.batch_size > 1:
        rows = rows.expand(tensors.batch_size)
    rows = rows.with_lengths(tensors.latent_lengths)
    return _entry(dit_inputs(generator, rows, frames, guided=False), frames)
