"""The Dasheng-AudioGen generator checkpoint as a module: T5 states -> conditioning, and the
DiT's velocity for given inputs.

:class:`DashengAudioGenerator` holds every tensor of the official generator checkpoint under its
official name (``backbone.*``, ``content_adapter.*``, ``content_encoder.text_encoder.proj.*``,
the dummy embeddings and the instruction buffers). It answers two questions:

* :meth:`DashengAudioGenerator.condition`: project the T5 hidden states, run the content
  adapter and turn its global log-duration into a latent length per prompt (and its per-token
  log-durations into frames per token);
* :meth:`DashengAudioGenerator.velocity_fn`: the DiT's velocity for given input rows
  (:class:`DiTInputs`), its conditioning-only terms computed once per call.

Everything built on top lives elsewhere: the conditioning types and the time-aligned layouts
in ``conditioning/``, guidance, blending and the Euler loop in ``sampling/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .adapter import (
    AdapterOutput,
    ContentAdapter,
    frames_mask,
    global_latent_frames,
    local_latent_frames,
)
from .dit import LayerFusionDiT, StepConstants, config_value
from .ops import ComputeDevice, PlainOps
from .text_encoder import T5Tokenizer

T5_FAMILY = "t5"
MT5_FAMILY = "mt5"
# The text encoder a generator config without ``text_encoder_name`` was trained with.
DEFAULT_TEXT_ENCODER = "google/flan-t5-large"

VelocityFn = Callable[[Tensor, Tensor], Tensor]


def generator_text_encoder_family(config: dict) -> str:
    """``"mt5"`` or ``"t5"``: the text encoder a generator config names (flan-t5 if absent)."""
    name = str(config.get("text_encoder_name") or DEFAULT_TEXT_ENCODER)
    return MT5_FAMILY if "mt5" in name.rsplit("/", 1)[-1].lower() else T5_FAMILY


@dataclass(frozen=True)
class ConditionerOutput:
    """What the conditioner makes of a batch of encoded prompts, one row per prompt."""

    context: Tensor  # (b, l', c): adapted content, cut to the longest valid prompt
    context_mask: Tensor  # (b, l') bool
    global_duration_log: Tensor  # (b,) float32: predicted log(seconds + 1)
    latent_lengths: Tensor  # (b,) int64: predicted latent frames, not clamped
    local_frames: Tensor  # (b, l') float32: predicted latent frames per token, -0.0 if padded


class DiTInputs(NamedTuple):
    """The DiT's conditioning inputs for some rows (one row per sample it evaluates)."""

    context: Tensor  # (r, l, c) cross-attention content
    context_mask: Tensor  # (r, l) bool
    lengths: Tensor  # (r,) int64 valid latent frames (self-attention key mask)
    time_aligned: Tensor  # (r, t or 1, c) per-frame content (1: one vector on every frame)


def pad_frames(content: Tensor, num_frames: int) -> Tensor:
    """(b, t, c) zero-padded along t to ``num_frames`` (the reference's trim_or_pad_length)."""
    if content.shape[1] > num_frames:
        raise ValueError(f"content covers {content.shape[1]} frames, more than {num_frames}")
    return F.pad(content, (0, 0, 0, num_frames - content.shape[1]))


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
    conditioner's device, ``velocity_fn`` on the backbone's; the few top-level vectors and
    buffers are moved to where they are needed on each call.
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
    def condition(self, t5_hidden: Tensor, t5_mask: Tensor) -> ConditionerOutput:
        """Adapted content and predicted latent lengths for a batch of encoded prompts.

        The lengths are not clamped: checking them is the caller's job.
        """
        adapted = self.adapt_content(t5_hidden, t5_mask)
        mask = t5_mask.to(adapted.content.device).bool()
        longest = int(mask.sum(dim=1).max())
        local_frames = local_latent_frames(
            adapted.local_duration_log,
            mask,
            self.frame_rate,
            self.frame_resolution,
            self.duration_offset,
        )
        return ConditionerOutput(
            context=adapted.content[:, :longest],
            context_mask=mask[:, :longest],
            global_duration_log=adapted.global_duration_log,
            latent_lengths=global_latent_frames(
                adapted.global_duration_log, self.frame_rate, self.duration_offset
            ),
            local_frames=local_frames[:, :longest],
        )

    def time_aligned_input(
        self, time_aligned: Tensor | None, batch_size: int, num_frames: int, device: torch.device
    ) -> Tensor:
        """The DiT's time-aligned input for ``batch_size`` rows.

        ``None`` (text-to-audio) feeds ``dummy_ta_embed`` on every frame: one vector, broadcast,
        (b, 1, c). A time-aligned layout (b, t, c) brings its own per-frame content, cut or
        zero-padded to ``num_frames`` as the reference does.
        """
        if time_aligned is None:
            dummy = self.dummy_ta_embed.to(device).reshape(1, 1, -1)
            return dummy.expand(batch_size, 1, -1)
        return pad_frames(time_aligned[:, :num_frames], num_frames)

    def prepare(self, inputs: DiTInputs, num_frames: int) -> StepConstants:
        """The DiT's conditioning-only terms for ``inputs`` at ``num_frames`` frames."""
        x_mask = frames_mask(inputs.lengths, num_frames)
        return self.backbone.prepare(
            num_frames, inputs.time_aligned, inputs.context, x_mask, inputs.context_mask
        )

    def velocity_fn(self, inputs: DiTInputs, num_frames: int) -> VelocityFn:
        """The velocity for these inputs: ``velocity(x, timestep)`` for latents x (r, c, t).

        The conditioning-only terms are computed here, once; every call then evaluates the DiT
        on them. Frames past a row's length are computed like the reference does (only
        attention keys are masked), so a row's last valid frame sees its first padded one.
        """
        constants = self.prepare(inputs, num_frames)

        def velocity(x: Tensor, timestep: Tensor) -> Tensor:
            return self.backbone.velocity(x, timestep, constants)

        return velocity
