"""The Dasheng-AudioGen generator: T5 states -> conditioning -> sampled latent.

:class:`DashengAudioGenerator` holds every tensor of the official generator checkpoint under its
official name (``backbone.*``, ``content_adapter.*``, ``content_encoder.text_encoder.proj.*``,
the dummy embeddings and the instruction buffers). It does two things:

* :meth:`DashengAudioGenerator.condition`: project the T5 hidden states, run the content
  adapter and turn its global log-duration into a latent length per prompt;
* :meth:`DashengAudioGenerator.sample`: integrate the flow from given noise to a latent with
  classifier-free guidance, computing the conditioning-only terms of the DiT once per call.

The T5 encoder and the audio decoder are separate modules; the pipeline chains them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .adapter import AdapterOutput, ContentAdapter, frames_mask, global_latent_frames
from .dit import LayerFusionDiT, StepConstants, config_value
from .ops import ComputeDevice, PlainOps
from .sampling import (
    ProgressCallback,
    denoise_schedule,
    euler_sample,
    keep_known_frames,
    start_sample,
)
from .text_encoder import T5Tokenizer


@dataclass(frozen=True)
class GeneratorConditioning:
    """What sampling needs from the prompts, one row per item.

    ``latent_lengths`` is the model's predicted length in latent frames; a caller that wants
    a fixed duration swaps it with ``dataclasses.replace``.
    """

    context: Tensor  # (b, l', c): adapted content, cut to the longest valid prompt
    context_mask: Tensor  # (b, l') bool
    global_duration_log: Tensor  # (b,) float32: predicted log(seconds + 1)
    latent_lengths: Tensor  # (b,) int64

    @property
    def batch_size(self) -> int:
        return self.context.shape[0]

    def _map(self, fn: Callable[[Tensor], Tensor]) -> GeneratorConditioning:
        return GeneratorConditioning(*(fn(getattr(self, f.name)) for f in fields(self)))

    def to(self, device: torch.device | str) -> GeneratorConditioning:
        return self._map(lambda t: t.to(device))

    def index_select(self, index: Tensor) -> GeneratorConditioning:
        """The items at ``index`` (a 1-D int64 tensor), in that order."""
        return self._map(lambda t: t.index_select(0, index.to(t.device)))

    def expand(self, repeats: int) -> GeneratorConditioning:
        """Every item repeated ``repeats`` times consecutively (variations of each prompt)."""
        if repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {repeats}")
        return self._map(lambda t: t.repeat_interleave(repeats, dim=0))


class Conditioner(ComputeDevice, nn.Module):
    """The prompt side of the generator: text projection and content adapter (about 12 M of its
    2.2 B parameters), without the DiT.

    It holds the generator's own submodules, not copies, and the generator does not register it,
    so the checkpoint keys stay the official ones. A model manager can wrap it on its own and move
    only it to the GPU to encode prompts; :meth:`DashengAudioGenerator.condition` computes on its
    ``device``. The generator's instruction buffers (a few KB) are moved there on each call.
    """

    def __init__(self, proj: nn.Module, content_adapter: ContentAdapter) -> None:
        super().__init__()
        self.proj = proj
        self.content_adapter = content_adapter


class DashengAudioGenerator(nn.Module):
    """The generator checkpoint (``mispeech/Dasheng-AudioGen`` model.safetensors) as a module.

    ``backbone`` (the DiT, 99.4% of the parameters) and ``conditioner`` (text projection and
    content adapter) are disjoint and may live on different devices: ``condition`` runs on the
    conditioner's device, ``sample`` on the backbone's; the few top-level vectors and buffers are
    moved to where they are needed on each call.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        operations=PlainOps,
        *,
        tokenizer: T5Tokenizer | None = None,
        source_folder: Path | None = None,
    ) -> None:
        super().__init__()
        # The reference prefers a tokenizer.json shipped with the generator over the text
        # encoder's own; None means use the text encoder's.
        self.tokenizer = tokenizer
        self.source_folder = source_folder
        if config.get("special_tokens"):
            raise ValueError(
                "generator configs with special_tokens are not supported (the official "
                "Dasheng-AudioGen config has none)"
            )
        self.config = dict(config)
        content_dim = config_value(config, "content_dim")
        instruction_dim = config_value(config, "task_instruction_dim")
        self.use_zero_instruction = bool(config.get("use_zero_instruction", False))
        self.frame_resolution = float(config_value(config, "frame_resolution"))
        self.duration_offset = float(config_value(config, "duration_offset"))

        # Parameters and buffers of the top level come first in the official key order anyway.
        self.dummy_param = nn.Parameter(torch.empty(0))  # unused; kept for the key list
        self.dummy_nta_embed = nn.Parameter(torch.zeros(content_dim))
        self.dummy_ta_embed = nn.Parameter(torch.zeros(content_dim))
        seq_len = config_value(config, "instruction_seq_len")
        self.register_buffer("instruction_embedding", torch.zeros(1, seq_len, instruction_dim))
        self.register_buffer("instruction_lengths", torch.full((1,), seq_len, dtype=torch.long))

        self.backbone = LayerFusionDiT.from_config(config, operations)
        self.content_adapter = ContentAdapter.from_config(config, operations)
        self.content_encoder = nn.Module()
        self.content_encoder.text_encoder = nn.Module()
        self.content_encoder.text_encoder.proj = operations.Linear(content_dim, content_dim)
        # Not registered as a submodule: its parameters are already the generator's.
        conditioner = Conditioner(self.content_encoder.text_encoder.proj, self.content_adapter)
        object.__setattr__(self, "conditioner", conditioner)

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        operations=PlainOps,
        *,
        tokenizer: T5Tokenizer | None = None,
        source_folder: Path | None = None,
    ) -> DashengAudioGenerator:
        """Build from the checkpoint's config.json dict (and its bundled tokenizer, if any),
        layers from ``operations``; ``source_folder`` names the snapshot in messages.

        Parameters get PyTorch's default initialisation; build under ``torch.device("meta")``
        to skip it when a checkpoint will be loaded with ``load_state_dict(..., assign=True)``.
        """
        return cls(config, operations, tokenizer=tokenizer, source_folder=source_folder)

    @property
    def text_encoder_family(self) -> str:
        """``"t5"`` or ``"mt5"``: the text encoder this checkpoint was trained with."""
        from .weights import generator_text_encoder_family

        return generator_text_encoder_family(self.config)

    @property
    def latent_dim(self) -> int:
        return int(config_value(self.config, "latent_dim"))

    @property
    def sample_rate(self) -> int:
        return int(config_value(self.config, "sample_rate"))

    @property
    def frame_rate(self) -> int:
        """Latent frames per second (integer division, as the reference: 16000 // 640 = 25)."""
        return self.sample_rate // int(config_value(self.config, "downsampling_ratio"))

    @property
    def dtype(self) -> torch.dtype:
        """The compute dtype (matrix weights may be stored narrower)."""
        return self.dummy_ta_embed.dtype

    @property
    def device(self) -> torch.device:
        """Where sampling runs: the DiT's device."""
        return self.backbone.device

    def instruction(
        self, batch_size: int, device: torch.device | None = None
    ) -> tuple[Tensor, Tensor]:
        """The adapter's fixed key/value sequence (b, s, c) and its validity mask (b, s), on
        ``device`` (default: the conditioner's)."""
        device = self.conditioner.device if device is None else device
        if self.use_zero_instruction:
            dim = self.instruction_embedding.shape[-1]
            instruction = torch.zeros(batch_size, 1, dim, device=device, dtype=self.dtype)
            return instruction, torch.ones(batch_size, 1, dtype=torch.bool, device=device)
        instruction = self.instruction_embedding.to(device=device, dtype=self.dtype)
        slots = torch.arange(instruction.shape[1], device=device)
        mask = slots < self.instruction_lengths[0].to(device)
        return instruction.expand(batch_size, -1, -1), mask.expand(batch_size, -1)

    def _check_text(self, t5_hidden: Tensor, t5_mask: Tensor) -> None:
        content_dim = self.dummy_ta_embed.shape[0]
        if t5_hidden.dim() != 3 or t5_hidden.shape[-1] != content_dim:
            raise ValueError(
                f"t5_hidden must be (batch, tokens, {content_dim}), got {tuple(t5_hidden.shape)}"
            )
        if tuple(t5_mask.shape) != tuple(t5_hidden.shape[:2]):
            raise ValueError(
                f"t5_mask {tuple(t5_mask.shape)} must be (batch, tokens) = "
                f"{tuple(t5_hidden.shape[:2])}"
            )
        if not bool(t5_mask.bool().any(dim=1).all()):
            raise ValueError("every prompt needs at least one valid token; a t5_mask row is empty")

    @torch.no_grad()
    def adapt_content(self, t5_hidden: Tensor, t5_mask: Tensor) -> AdapterOutput:
        """Text projection and content adapter for T5 states (b, l, c) with mask (b, l)."""
        self._check_text(t5_hidden, t5_mask)
        device = self.conditioner.device
        content = self.conditioner.proj(t5_hidden.to(device=device, dtype=self.dtype))
        instruction, instruction_mask = self.instruction(content.shape[0], device)
        return self.content_adapter(
            content, t5_mask.to(device).bool(), instruction, instruction_mask
        )

    @torch.no_grad()
    def condition(self, t5_hidden: Tensor, t5_mask: Tensor) -> GeneratorConditioning:
        """Conditioning and predicted latent lengths for a batch of encoded prompts.

        The lengths are not clamped: checking them is the caller's job.
        """
        adapted = self.adapt_content(t5_hidden, t5_mask)
        mask = t5_mask.to(adapted.content.device).bool()
        longest = int(mask.sum(dim=1).max())
        return GeneratorConditioning(
            context=adapted.content[:, :longest],
            context_mask=mask[:, :longest],
            global_duration_log=adapted.global_duration_log,
            latent_lengths=global_latent_frames(
                adapted.global_duration_log, self.frame_rate, self.duration_offset
            ),
        )

    def _check_noise(self, cond: GeneratorConditioning, noise: Tensor) -> None:
        expected = f"(batch={cond.batch_size}, latent_dim={self.latent_dim}, frames)"
        if noise.dim() != 3 or noise.shape[:2] != (cond.batch_size, self.latent_dim):
            raise ValueError(f"noise must be {expected}, got {tuple(noise.shape)}")
        shortest, longest = int(cond.latent_lengths.min()), int(cond.latent_lengths.max())
        if shortest < 1:
            raise ValueError(
                f"latent lengths must be at least 1 frame, got {shortest}; set a positive "
                "duration for that prompt"
            )
        if noise.shape[-1] < longest:
            raise ValueError(
                f"noise has {noise.shape[-1]} frames but the longest item needs {longest}; "
                "draw the noise with max(cond.latent_lengths) frames"
            )

    def step_constants(
        self, cond: GeneratorConditioning, num_frames: int, guidance: bool
    ) -> StepConstants:
        """The DiT's conditioning-only terms for ``sample``, batch doubled when guiding.

        Text-to-audio feeds ``dummy_ta_embed`` on every frame as time-aligned content (one
        vector, broadcast). Guidance puts the unconditional rows first, with zero context
        (same mask) and zero time-aligned content.
        """
        x_mask = frames_mask(cond.latent_lengths, num_frames)
        time_aligned = self.dummy_ta_embed.to(cond.context.device).reshape(1, 1, -1)
        time_aligned = time_aligned.expand(cond.batch_size, 1, -1)
        context, context_mask = cond.context, cond.context_mask
        if guidance:
            time_aligned = torch.cat([torch.zeros_like(time_aligned), time_aligned])
            context = torch.cat([torch.zeros_like(context), context])
            context_mask = torch.cat([context_mask, context_mask])
            x_mask = torch.cat([x_mask, x_mask])
        return self.backbone.prepare(num_frames, time_aligned, context, x_mask, context_mask)

    @torch.no_grad()
    def sample(
        self,
        cond: GeneratorConditioning,
        noise: Tensor,
        steps: int = 25,
        guidance: float = 5.0,
        sway: float = -1.0,
        callback: ProgressCallback | None = None,
        *,
        init: Tensor | None = None,
        noise_mask: Tensor | None = None,
        denoise: float = 1.0,
    ) -> Tensor:
        """Latent (b, latent_dim, t) float32 from noise (b, latent_dim, t), channels-first.

        Frames past an item's length are computed like the reference does (only attention keys
        are masked), so an item's last valid frame sees its first padded one. Guidance runs
        iff ``guidance > 1``. ``callback(step, total)`` is called after every DiT
        evaluation; an exception it raises stops sampling and propagates.

        Editing: ``init`` (shaped like ``noise``) is a latent to start from; ``denoise`` < 1
        runs only the last part of the schedule (see ``sampling.denoise_schedule``), starting
        from the init noised to that level. ``noise_mask`` (b or 1, t), 1 = regenerate and
        0 = keep, keeps the init where it is 0 (``sampling.keep_known_frames``).
        """
        sigmas = denoise_schedule(steps, sway, denoise)
        cond = cond.to(self.device)
        self._check_noise(cond, noise)
        self._check_init(noise, init, noise_mask, denoise)
        noise = noise.to(self.device).float()
        guided = guidance > 1.0
        constants = self.step_constants(cond, noise.shape[-1], guided)

        def velocity(x: Tensor, timestep: Tensor) -> Tensor:
            x_in = torch.cat([x, x]) if guided else x
            out = self.backbone.velocity(x_in, timestep, constants).float()
            if not guided:
                return out
            uncond, conditioned = out.chunk(2)
            return uncond + guidance * (conditioned - uncond)

        if init is None:
            return euler_sample(velocity, noise, sigmas, callback)
        init = init.to(self.device).float()
        start = start_sample(init, noise, sigmas[0].to(self.device))
        after_step = None
        if noise_mask is not None:
            mask = noise_mask.to(device=self.device, dtype=torch.float32)[:, None, :]
            after_step = keep_known_frames(init, noise, mask)
        return euler_sample(velocity, start, sigmas, callback, after_step)

    def _check_init(
        self, noise: Tensor, init: Tensor | None, noise_mask: Tensor | None, denoise: float
    ) -> None:
        if init is None:
            if noise_mask is not None or denoise != 1.0:
                raise ValueError(
                    "noise_mask and denoise < 1 need an init latent to keep or start from"
                )
            return
        if init.dim() != 3 or init.shape[1] != self.latent_dim:
            raise ValueError(
                f"init must be (batch, latent_dim={self.latent_dim}, frames), got "
                f"{tuple(init.shape)}: is it a latent of another model size?"
            )
        if init.shape != noise.shape:
            raise ValueError(
                f"init {tuple(init.shape)} and noise {tuple(noise.shape)} must have one shape"
            )
        if noise_mask is not None:
            rows = noise_mask.shape[0] if noise_mask.dim() == 2 else -1
            if rows not in (1, noise.shape[0]) or noise_mask.shape[-1] != noise.shape[-1]:
                raise ValueError(
                    f"noise_mask must be (batch or 1, frames={noise.shape[-1]}), got "
                    f"{tuple(noise_mask.shape)}"
                )
