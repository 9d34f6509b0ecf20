"""One DiT evaluation from the inputs ComfyUI hands the model (plain torch).

ComfyUI calls the model with the latent rows of every conditioning it batches (positive and
negative rows together), a float timestep per row and the conditioning's extras as keyword
arguments (``keys``); this builds the DiT's conditioning terms for those rows and evaluates it.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from audiogen_core.models.adapter import frames_mask

from . import keys


def dit_inputs(kwargs: dict[str, Any]) -> dict[str, Tensor]:
    """The DiT's inputs among ComfyUI's keyword arguments."""
    return {
        "context_mask": kwargs[keys.CONTEXT_MASK],
        "time_aligned": kwargs[keys.TIME_ALIGNED],
        "lengths": kwargs[keys.LENGTHS],
    }


def velocity(
    dit: nn.Module,
    x: Tensor,
    timestep: Tensor,
    context: Tensor,
    *,
    context_mask: Tensor,
    time_aligned: Tensor,
    lengths: Tensor,
) -> Tensor:
    """The DiT's velocity (b, c, t) for ComfyUI's inputs: timesteps (b,) float sigma * 1000.

    The reference truncates a scalar timestep to an integer before embedding it. ComfyUI passes
    one float per row; when they are all equal (as every sampler of ComfyUI's passes them) the
    DiT gets the scalar and truncates it itself, exactly as the pack's sampler calls it;
    otherwise each row is truncated here.
    """
    frames = x.shape[-1]
    timestep = timestep.float()
    if bool((timestep == timestep[0]).all()):
        timestep = timestep[0]
    else:
        timestep = timestep.long()
    constants = dit.prepare(
        frames,
        time_aligned,
        context,
        frames_mask(lengths.to(x.device), frames),
        context_mask.to(x.device).bool(),
    )
    return dit.velocity(x, timestep, constants)
