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
from typing import Any

import torch
from torch import Tensor, nn

from .adapter import AdapterOutput, ContentAdapter, frames_mask, global_latent_frames
from .dit import LayerFusionDiT, StepConstants, config_value
from .sampling import ProgressCallback, euler_sample, sigma_schedule


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


class DashengAudioGenerator(nn.Module):
    """The generator checkpoint (``mispeech/Dasheng-AudioGen`` model.safetensors) as a module."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__()
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

        self.backbone = LayerFusionDiT.from_config(config)
        self.content_adapter = ContentAdapter.from_config(config)
        self.content_encoder = nn.Module()
        self.content_encoder.text_encoder = nn.Module()
        self.content_encoder.text_encoder.proj = nn.Linear(content_dim, content_dim)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DashengAudioGenerator:
        """Build from the checkpoint's config.json dict.

        Parameters get PyTorch's default initialisation; build under ``torch.device("meta")``
        to skip it when a checkpoint will be loaded with ``load_state_dict(..., assign=True)``.
        """
        return cls(config)

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
        return self.dummy_ta_embed.dtype

    @property
    def device(self) -> torch.device:
        return self.dummy_ta_embed.device

    def instruction(self, batch_size: int) -> tuple[Tensor, Tensor]:
        """The adapter's fixed key/value sequence (b, s, c) and its validity mask (b, s)."""
        if self.use_zero_instruction:
            dim = self.instruction_embedding.shape[-1]
            instruction = torch.zeros(batch_size, 1, dim, device=self.device, dtype=self.dtype)
            return instruction, torch.ones(batch_size, 1, dtype=torch.bool, device=self.device)
        instruction = self.instruction_embedding.to(self.dtype).expand(batch_size, -1, -1)
        slots = torch.arange(instruction.shape[1], device=self.device)
        mask = (slots < self.instruction_lengths[0]).expand(batch_size, -1)
        return instruction, mask

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
        proj = self.content_encoder.text_encoder.proj
        # The text side may be managed apart from the DiT (ComfyUI moves it on its own), so
        # it computes where its projection is, not where the generator's embeddings are.
        device = proj.weight.device
        content = proj(t5_hidden.to(device=device, dtype=self.dtype))
        instruction, instruction_mask = self.instruction(content.shape[0])
        return self.content_adapter(
            content, t5_mask.to(device).bool(), instruction.to(device), instruction_mask.to(device)
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
        time_aligned = self.dummy_ta_embed.reshape(1, 1, -1).expand(cond.batch_size, 1, -1)
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
        num_steps: int = 25,
        guidance_scale: float = 5.0,
        sway_sampling_coef: float = -1.0,
        callback: ProgressCallback | None = None,
    ) -> Tensor:
        """Latent (b, latent_dim, t) float32 from noise (b, latent_dim, t), channels-first.

        Frames past an item's length are computed like the reference does (only attention keys
        are masked), so an item's last valid frame sees its first padded one. Guidance runs
        iff ``guidance_scale > 1``. ``callback(step, total)`` is called after every DiT
        evaluation; an exception it raises stops sampling and propagates.
        """
        sigmas = sigma_schedule(num_steps, sway_sampling_coef)
        cond = cond.to(self.device)
        self._check_noise(cond, noise)
        guidance = guidance_scale > 1.0
        constants = self.step_constants(cond, noise.shape[-1], guidance)

        def velocity(x: Tensor, timestep: Tensor) -> Tensor:
            x_in = torch.cat([x, x]) if guidance else x
            out = self.backbone.velocity(x_in, timestep, constants).float()
            if not guidance:
                return out
            uncond, conditioned = out.chunk(2)
            return uncond + guidance_scale * (conditioned - uncond)

        return euler_sample(velocity, noise.to(self.device), sigmas, callback)
