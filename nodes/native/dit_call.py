"""One DiT evaluation from the inputs ComfyUI hands the model (plain torch).

ComfyUI calls the model with the latent rows of every conditioning it batches (positive and
negative rows together), a float timestep per row and the conditioning's extras as keyword
arguments (``keys``); this builds the DiT's conditioning terms for those rows and evaluates it.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from audiogen_core.models.generator import DiTInputs

from . import keys


def dit_inputs(context: Tensor, kwargs: dict[str, Any]) -> DiTInputs:
    """The DiT's inputs from ComfyUI's context and keyword arguments (``keys``)."""
    return DiTInputs(
        context=context,
        context_mask=kwargs[keys.CONTEXT_MASK].bool(),
        lengths=kwargs[keys.LENGTHS].long(),
        time_aligned=kwargs[keys.TIME_ALIGNED],
    )


def velocity(generator, x: Tensor, timestep: Tensor, inputs: DiTInputs) -> Tensor:
    """The generator's velocity (b, c, t) for ComfyUI's rows: timesteps (b,) float sigma * 1000.

    The reference truncates a scalar timestep to an integer before embedding it. ComfyUI passes
    one float per row; when they are all equal (as every sampler of ComfyUI's passes them) the
    DiT gets the scalar and truncates it itself, exactly as the pack's sampler calls it;
    otherwise each row is truncated here.
    """
    timestep = timestep.float()
    if bool((timestep == timestep[0]).all()):
        timestep = timestep[0]
    else:
        timestep = timestep.long()
    device = x.device
    inputs = DiTInputs(*(t.to(device) for t in inputs))
    return generator.velocity_fn(inputs, x.shape[-1])(x, timestep)
