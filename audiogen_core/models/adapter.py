"""Content adapter of Dasheng-AudioGen and the arithmetic from log-durations to latent frames.

The adapter (the reference's ``CrossAttentionAdapter`` with its ``DurationPredictor``) lets the
projected T5 tokens attend to a fixed instruction sequence, then predicts how long the audio
should be: one global log-duration per prompt (log(seconds + 1)) and one per token. Parameter
names follow the official checkpoint (``content_adapter.*``).

The duration recipes replay the reference's float32 operations in the same order: several
per-token values are exact ties at x.5 whose rounding depends on float32 ``0.005``.

einops legend: b batch, l content tokens, s instruction slots, n tokens of either kind, t latent
frames, h heads, d channels per head, c channels.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .dit import config_value
from .ops import PlainOps, float32_layer_norm

DURATION_PREDICTOR_EPS = 1e-12


@dataclass
class AdapterOutput:
    content: Tensor  # (b, l, c): adapted content, also computed at padded tokens
    global_duration_log: Tensor  # (b,) float32: log(seconds + duration_offset)
    local_duration_log: Tensor  # (b, l) float32: per-token log-durations, 0 at padded tokens


class InstructionAttention(nn.Module):
    """``nn.MultiheadAttention`` semantics with the packed ``in_proj_weight`` of the checkpoint.

    Queries come from the content, keys and values from the instruction; only the instruction
    slots are masked.
    """

    def __init__(self, dim: int, num_heads: int, operations=PlainOps) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"content_dim={dim} does not split into adapter_num_heads={num_heads}")
        self.num_heads = num_heads
        # Rows 0..dim-1 are W_q, then W_k, then W_v (PyTorch's packed layout).
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * dim))
        self.out_proj = operations.Linear(dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's MultiheadAttention initialisation, so a fresh module holds finite values."""
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)

    def _heads(self, x: Tensor, index: int) -> Tensor:
        # Cast on use: a model manager may leave these raw parameters on the offload device.
        weight = self.in_proj_weight.chunk(3)[index].to(device=x.device, dtype=x.dtype)
        bias = self.in_proj_bias.chunk(3)[index].to(device=x.device, dtype=x.dtype)
        return rearrange(F.linear(x, weight, bias), "b n (h d) -> b h n d", h=self.num_heads)

    def forward(self, query: Tensor, source: Tensor, source_mask: Tensor) -> Tensor:
        """``query`` (b, l, c) attends to ``source`` (b, s, c) with valid slots ``source_mask``."""
        out = F.scaled_dot_product_attention(
            self._heads(query, 0),
            self._heads(source, 1),
            self._heads(source, 2),
            attn_mask=rearrange(source_mask.bool(), "b s -> b 1 1 s"),
        )
        return self.out_proj(rearrange(out, "b h l d -> b l (h d)"))


@functools.cache
def channel_layer_norm(operations=PlainOps) -> type[nn.LayerNorm]:
    """The float32-statistics LayerNorm of ``operations`` over the channel axis of a
    channels-first (b, c, l) tensor."""

    class ChannelLayerNorm(float32_layer_norm(operations)):
        def forward(self, x: Tensor) -> Tensor:
            return super().forward(x.transpose(1, -1)).transpose(1, -1)

    return ChannelLayerNorm


class DurationPredictor(nn.Module):
    """Stacked (zero pad, conv, ReLU, channel LayerNorm, mask) layers, then a linear head."""

    def __init__(
        self,
        in_channels: int,
        filter_channels: int,
        n_layers: int,
        kernel_size: int,
        operations=PlainOps,
    ) -> None:
        super().__init__()
        pad = (kernel_size - 1) // 2
        # Indices 1 and 3 of each layer are the checkpoint's conv.{i}.1 and conv.{i}.3; the
        # reference's trailing dropout (inactive at inference) is left out.
        self.conv = nn.ModuleList(
            nn.Sequential(
                nn.ConstantPad1d((pad, pad), 0.0),
                operations.Conv1d(
                    in_channels if i == 0 else filter_channels, filter_channels, kernel_size
                ),
                nn.ReLU(),
                channel_layer_norm(operations)(filter_channels, eps=DURATION_PREDICTOR_EPS),
            )
            for i in range(n_layers)
        )
        self.linear = operations.Linear(filter_channels, 1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (b, l, c), mask (b, l) -> per-token log-durations (b, l), 0 at padded tokens."""
        weights = mask.to(x.dtype)
        h = rearrange(x, "b l c -> b c l")
        for layer in self.conv:
            h = layer(h) * weights[:, None, :]
        return self.linear(rearrange(h, "b c l -> b l c")).squeeze(-1) * weights


class ContentAdapter(nn.Module):
    """The generator's ``content_adapter``: instruction cross-attention and duration heads."""

    def __init__(
        self,
        *,
        content_dim: int,
        num_heads: int,
        filter_channels: int,
        n_layers: int,
        kernel_size: int,
        duration_grad_scale: float,
        operations=PlainOps,
    ) -> None:
        super().__init__()
        self.duration_grad_scale = duration_grad_scale
        # Registration order = the official state-dict order.
        self.attn = InstructionAttention(content_dim, num_heads, operations)
        self.duration_predictor = DurationPredictor(
            content_dim, filter_channels, n_layers, kernel_size, operations
        )
        # Slots 1 and 2 are ReLU and the reference's (inactive) dropout: keys stay ".0" / ".3".
        self.global_duration_mlp = nn.Sequential(
            operations.Linear(content_dim, content_dim),
            nn.ReLU(),
            nn.Identity(),
            operations.Linear(content_dim, 1),
        )
        self.norm = float32_layer_norm(operations)(content_dim)
        self.content_proj = operations.Conv1d(content_dim, content_dim, kernel_size=1)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], operations=PlainOps) -> ContentAdapter:
        content_dim = config_value(config, "content_dim")
        instruction_dim = config_value(config, "task_instruction_dim")
        if instruction_dim != content_dim:
            # PyTorch would then store separate q/k/v projection weights, a layout no official
            # checkpoint uses.
            raise ValueError(
                f"task_instruction_dim={instruction_dim} differs from content_dim={content_dim}; "
                "only the official layout with equal sizes (packed in_proj_weight) is supported"
            )
        return cls(
            operations=operations,
            content_dim=content_dim,
            num_heads=config_value(config, "adapter_num_heads"),
            filter_channels=config_value(config, "duration_predictor_filter_channels"),
            n_layers=config_value(config, "duration_predictor_n_layers"),
            kernel_size=config_value(config, "duration_predictor_kernel_size"),
            duration_grad_scale=config_value(config, "adapter_duration_grad_scale"),
        )

    def _masked_mean(self, x: Tensor, mask: Tensor) -> Tensor:
        # Summed in float32: a bf16 sum over hundreds of tokens would cost the duration digits.
        weights = mask.float()[..., None]
        mean = (x.float() * weights).sum(dim=1) / weights.sum(dim=1)
        return mean.to(x.dtype)

    def forward(
        self, content: Tensor, content_mask: Tensor, instruction: Tensor, instruction_mask: Tensor
    ) -> AdapterOutput:
        """content (b, l, c) with mask (b, l); instruction (b, s, c) with mask (b, s)."""
        dtype = self.norm.weight.dtype
        content = content.to(dtype)
        token_weights = content_mask.to(dtype)[..., None]
        attended = self.attn(content, instruction.to(dtype), instruction_mask) * token_weights
        y = self.norm(attended + content)
        # The reference scales gradients with y * s + y.detach() * (1 - s). Replaying the sum
        # keeps its float32 rounding, to which the ceil/round of the durations are sensitive.
        y_durations = y * self.duration_grad_scale + y * (1 - self.duration_grad_scale)
        global_log = self.global_duration_mlp(self._masked_mean(y_durations, content_mask))
        local_log = self.duration_predictor(y_durations, content_mask)
        adapted = rearrange(self.content_proj(rearrange(y, "b l c -> b c l")), "b c l -> b l c")
        return AdapterOutput(adapted, global_log.squeeze(-1).float(), local_log.float())


def local_latent_frames(
    local_log: Tensor,
    mask: Tensor,
    frame_rate: int,
    frame_resolution: float,
    duration_offset: float,
) -> Tensor:
    """Frames per token (float32): round_half_even(((ceil(exp(l) m) - offset) * res) * rate).

    The reference's operation order in float32 (spec 6.3): the float32 rounding of
    ``frame_resolution`` decides the x.5 ties (60 units -> 7 frames, where exact arithmetic
    gives 8). Padded tokens give -0.0.
    """
    units = torch.ceil(torch.exp(local_log.float()) * mask.bool()) - duration_offset
    return torch.round(units * frame_resolution * frame_rate)


def global_latent_frames(global_log: Tensor, frame_rate: int, duration_offset: float) -> Tensor:
    """Latent length per item (int64): round_half_even((exp(g) - offset) * rate), in float32.

    No clamping: a non-positive result is returned as it is for the caller to reject.
    """
    seconds = torch.exp(global_log.float()) - duration_offset
    return torch.round(seconds * frame_rate).long()


def frames_mask(lengths: Tensor, num_frames: int) -> Tensor:
    """(b,) lengths -> (b, num_frames) bool mask, True for frames before each length."""
    return torch.arange(num_frames, device=lengths.device)[None, :] < lengths[:, None]
