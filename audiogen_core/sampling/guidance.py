"""Guidance and blending: the one place velocities are mixed.

Classifier-free guidance (ComfyUI's ``cfg_function``): ``uncond + g * (cond - uncond)``, run
iff ``g > 1``. The unconditional rows are the conditional ones with zero context (same mask)
and zero time-aligned content, as in the reference.

Blending (``conditioning/blending.py`` defines the weights): the prompts with a non-zero weight
on some valid frame are evaluated in one batched DiT call, with one unconditional row per item
shared by all of them (zero context; what it attends to is the same for every prompt); their
conditional velocities are mixed per frame, then guided. Prompts with weight 0 on every valid
frame are not evaluated. When a single prompt remains (weight 1 on every valid frame) it is
evaluated exactly as a plain conditioning of that prompt, so a whole-clip range at strength 1
reproduces plain generation bitwise, and ranges that cover nothing leave the base prompt's
result unchanged.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from ..conditioning.encoded import ConditioningTensors, concat_conditionings
from ..models.adapter import frames_mask
from ..models.generator import DashengAudioGenerator, DiTInputs
from .euler import VelocityFn


def cfg(uncond: Tensor, cond: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance: the conditional velocity pushed away from the unconditional."""
    return uncond + scale * (cond - uncond)


def blend(per_prompt: Tensor, weights: Tensor) -> Tensor:
    """Velocities (p, b, c, t) of p prompts mixed per frame by weights (p, b, 1, t)."""
    return (weights * per_prompt).sum(dim=0)


def dit_inputs(
    generator: DashengAudioGenerator,
    cond: ConditioningTensors,
    num_frames: int,
    guided: bool,
    unconditional_rows: int | None = None,
) -> DiTInputs:
    """The DiT's inputs for ``cond``'s rows, unconditional rows first when ``guided``: one per
    row, or one for each of the first ``unconditional_rows`` rows (blended prompts share them).
    """
    time_aligned = generator.time_aligned_input(
        cond.time_aligned, cond.batch_size, num_frames, cond.context.device
    )
    inputs = DiTInputs(cond.context, cond.context_mask, cond.latent_lengths, time_aligned)
    if not guided:
        return inputs
    n = cond.batch_size if unconditional_rows is None else unconditional_rows
    return DiTInputs(
        context=torch.cat([torch.zeros_like(inputs.context[:n]), inputs.context]),
        context_mask=torch.cat([inputs.context_mask[:n], inputs.context_mask]),
        lengths=torch.cat([inputs.lengths[:n], inputs.lengths]),
        time_aligned=torch.cat([torch.zeros_like(time_aligned[:n]), time_aligned]),
    )


def guided_velocity(
    generator: DashengAudioGenerator, cond: ConditioningTensors, num_frames: int, guidance: float
) -> VelocityFn:
    """The velocity the sampler integrates: guided iff ``guidance > 1``, blended per frame when
    ``cond`` holds timed prompts (see the module docstring)."""
    guided = guidance > 1.0
    rows, weights = blend_rows(cond, num_frames)
    batch = cond.batch_size
    inputs = dit_inputs(generator, rows, num_frames, guided, unconditional_rows=batch)
    dit = generator.velocity_fn(inputs, num_frames)
    copies = rows.batch_size // batch + guided

    def velocity(x: Tensor, timestep: Tensor) -> Tensor:
        out = dit(torch.cat([x] * copies), timestep).float()
        conditioned = out[batch:] if guided else out
        if weights is not None:
            conditioned = blend(conditioned.unflatten(0, (-1, batch)), weights)
        return cfg(out[:batch], conditioned, guidance) if guided else conditioned

    return velocity


def blend_rows(
    cond: ConditioningTensors, num_frames: int
) -> tuple[ConditioningTensors, Tensor | None]:
    """The rows to evaluate (prompt-major: all items under prompt 0, then prompt 1, ...)
    and their blend weights (p, b, 1, t), None when one prompt alone holds everywhere."""
    timed = cond.timed
    if timed is None:
        return cond, None
    weights = timed.weights[:, :, :num_frames].float()
    valid = frames_mask(cond.latent_lengths, num_frames)[:, None, :]  # (b, 1, t)
    active = ((weights != 0) & valid).any(dim=2).any(dim=0)  # (1 + k,)
    base = dataclasses.replace(cond, timed=None)
    candidates = [base, *timed.prompts]
    chosen = [i for i in range(len(candidates)) if bool(active[i])] or [0]
    per_prompt = [base if i == 0 else _rows_for_items(candidates[i], base) for i in chosen]
    if len(chosen) == 1:
        return per_prompt[0], None
    rows = concat_conditionings(per_prompt)
    picked = weights[:, chosen].transpose(0, 1)[:, :, None, :]  # (p, b, 1, t)
    return rows, picked.to(cond.context.device)


def _rows_for_items(prompt: ConditioningTensors, items: ConditioningTensors) -> ConditioningTensors:
    """A one-row prompt's conditioning repeated for every item, with the items' lengths."""
    return dataclasses.replace(
        prompt.expand(items.batch_size) if items.batch_size > 1 else prompt,
        latent_lengths=items.latent_lengths,
        global_duration_log=items.global_duration_log,
    )
