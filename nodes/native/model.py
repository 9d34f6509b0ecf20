"""The generator's DiT as a ComfyUI ``MODEL``: a ``BaseModel`` that ComfyUI's samplers drive.

Imported only inside ComfyUI (it subclasses ComfyUI's classes); ``nodes.native`` imports it
when a patcher or a MODEL is made. How the pieces map onto the official sampler:

* ``ModelType.FLOW``: sigma runs 1 -> 0, the timestep is sigma * 1000 (shift 1) and ComfyUI's
  ``CONST`` turns the velocity v into ``denoised = x - sigma * v``, so its Euler step is the
  official ``x + (sigma_next - sigma) * v``.
* The DiT's conditioning travels in the CONDITIONING entries (``conditioning.py``) and reaches
  :class:`AudioGenDiT` as keyword arguments; masks and lengths are int64 because ComfyUI casts
  every other tensor to the model's dtype.
* The pack's own Sampler and the MODEL share one :class:`AudioGenBaseModel` (the pack's
  sampling-side patcher wraps it, the MODEL is a clone of that patcher), so ComfyUI's memory
  manager holds the DiT in one loaded-model entry.
"""

from __future__ import annotations

from typing import Any

import comfy.conds
import comfy.latent_formats
import comfy.model_base
import comfy.patcher_extension
import comfy.supported_models_base
import torch
from torch import Tensor, nn

from audiogen_core.conditioning.encoded import layout_message
from audiogen_core.runtime import memory

from . import dit_call, keys


class AudioGenLatentFormat(comfy.latent_formats.LatentFormat):
    """Latents as the generator samples them: (batch, latent_dim, frames), unscaled."""

    latent_dimensions = 1

    def __init__(self, channels: int) -> None:
        self.latent_channels = channels


class AudioGenModelConfig(comfy.supported_models_base.BASE):
    """The model config ComfyUI's BaseModel reads: no UNet to build (the DiT is given), flow
    sampling with shift 1 and timestep multiplier 1000."""

    unet_config = {"disable_unet_model_creation": True}
    unet_extra_config = {}
    sampling_settings = {"shift": 1.0, "multiplier": 1000}
    supported_inference_dtypes = [torch.float32, torch.bfloat16, torch.float16]

    def __init__(self, latent_channels: int) -> None:
        super().__init__(self.unet_config)
        self.latent_format = AudioGenLatentFormat(latent_channels)


class PaddedTokens(comfy.conds.CONDRegular):
    """A per-token tensor (b, tokens, ...): entries of different token counts batch together,
    zero-padded (for a mask: invalid) to the longest, as the official sampler pads prompts."""

    def can_concat(self, other: Any) -> bool:
        mine, theirs = self.cond.shape, other.cond.shape
        same_rest = mine[0] == theirs[0] and mine[2:] == theirs[2:]
        return same_rest and self.cond.device == other.cond.device

    def concat(self, others: list[Any]) -> Tensor:
        conds = [self.cond, *(o.cond for o in others)]
        longest = max(c.shape[1] for c in conds)
        padded = []
        for c in conds:
            pad = [0, 0] * (c.dim() - 2) + [0, longest - c.shape[1]]
            padded.append(nn.functional.pad(c, pad))
        return torch.cat(padded)


class PerFrame(comfy.conds.CONDRegular):
    """Time-aligned content (b, frames or 1, c): one vector for every frame batches with a
    per-frame layout by repeating it."""

    def can_concat(self, other: Any) -> bool:
        mine, theirs = self.cond.shape, other.cond.shape
        frames_fit = mine[1] == theirs[1] or 1 in (mine[1], theirs[1])
        same_rest = mine[0] == theirs[0] and mine[2:] == theirs[2:]
        return frames_fit and same_rest and self.cond.device == other.cond.device

    def concat(self, others: list[Any]) -> Tensor:
        conds = [self.cond, *(o.cond for o in others)]
        frames = max(c.shape[1] for c in conds)
        return torch.cat([c.expand(-1, frames, -1) for c in conds])


class AudioGenDiT(nn.Module):
    """The BaseModel's ``diffusion_model``: ComfyUI's call in, the pack's DiT inside.

    Runs through ComfyUI's DIFFUSION_MODEL wrappers (EasyCache hooks in there) and builds the
    DiT's conditioning terms from the keyword arguments on every call.
    """

    def __init__(self, generator: Any) -> None:
        super().__init__()
        self.dit = generator.backbone
        # Not registered: only the DiT's parameters are this module's.
        object.__setattr__(self, "generator", generator)

    @property
    def dtype(self) -> torch.dtype:
        return self.dit.dtype

    def forward(
        self,
        x: Tensor,
        timestep: Tensor,
        context: Tensor | None = None,
        control: Any = None,
        transformer_options: dict | None = None,
        **kwargs: Any,
    ) -> Tensor:
        transformer_options = {} if transformer_options is None else transformer_options
        return comfy.patcher_extension.WrapperExecutor.new_class_executor(
            self._forward,
            self,
            comfy.patcher_extension.get_all_wrappers(
                comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, transformer_options
            ),
        ).execute(x, timestep, context, transformer_options, **kwargs)

    def _forward(
        self, x: Tensor, timestep: Tensor, context: Tensor, transformer_options: dict, **kwargs
    ) -> Tensor:
        return dit_call.velocity(self.generator, x, timestep, dit_call.dit_inputs(context, kwargs))


class AudioGenBaseModel(comfy.model_base.BaseModel):
    """The generator's DiT for ComfyUI's samplers and memory manager.

    ``generator`` is the pack's loaded generator: its DiT becomes ``diffusion_model`` (its own
    module, not a copy) and its config sizes ``memory_required`` with the pack's estimate.
    """

    def __init__(self, generator: Any, device: torch.device | None = None) -> None:
        config = AudioGenModelConfig(int(generator.latent_dim))
        super().__init__(config, comfy.model_base.ModelType.FLOW, device=device)
        self.diffusion_model = AudioGenDiT(generator)
        # Not registered: the generator's parameters outside the DiT are not managed here.
        object.__setattr__(self, "generator", generator)

    # ComfyUI's ModelPatcher assigns ``model.device`` when it loads or offloads; the DiT must
    # learn it too (its weights may be left partly offloaded), as the pack's sampler reads it.
    @property
    def device(self) -> torch.device | None:
        return self.__dict__.get("_audiogen_device")

    @device.setter
    def device(self, value: torch.device | None) -> None:
        self.__dict__["_audiogen_device"] = value
        dit = self.__dict__.get("_modules", {}).get("diffusion_model")
        if dit is not None and value is not None:
            dit.dit.device = value

    def extra_conds(self, **kwargs: Any) -> dict:
        noise = kwargs["noise"]
        missing = [k for k in (keys.CONTEXT_MASK, keys.TIME_ALIGNED) if k not in kwargs]
        if kwargs.get("cross_attn") is None or missing:
            raise ValueError(
                "this conditioning is not an AudioGen one: make positive and negative with "
                "AudioGen Conditioning (native)"
            )
        frames = int(noise.shape[-1])
        time_aligned = kwargs[keys.TIME_ALIGNED]
        if time_aligned.shape[1] not in (1, frames):
            raise ValueError(layout_message(int(time_aligned.shape[1]), frames))
        batch = kwargs["cross_attn"].shape[0]
        lengths = kwargs.get(keys.LENGTHS)
        if lengths is None or kwargs.get(keys.FRAMES) != frames:
            # A latent of another length than the conditioning was made for (cut, joined):
            # every frame of it is valid.
            lengths = torch.full((batch,), frames, dtype=torch.int64)
        return {
            "c_crossattn": PaddedTokens(kwargs["cross_attn"]),
            keys.CONTEXT_MASK: PaddedTokens(kwargs[keys.CONTEXT_MASK].long()),
            keys.TIME_ALIGNED: PerFrame(time_aligned),
            keys.LENGTHS: comfy.conds.CONDRegular(lengths.long().clamp(max=frames)),
        }

    def memory_required(self, input_shape: Any, cond_shapes: dict | None = None) -> float:
        """The pack's estimate of one DiT evaluation of ``input_shape`` (rows, channels,
        frames), with the longest context ComfyUI is about to batch."""
        tokens = [s[1] for s in (cond_shapes or {}).get("c_crossattn", []) if len(s) > 1]
        return memory.sampling_bytes(
            self.generator,
            batch=int(input_shape[0]),
            frames=int(input_shape[-1]),
            context_tokens=max(tokens, default=1),
            guidance=False,
        )
