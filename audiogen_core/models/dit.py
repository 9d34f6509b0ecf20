"""The U-shaped flow-matching DiT of Dasheng-AudioGen (the reference's ``LayerFusionAudioDiT``).

Parameter names follow the official checkpoint (``backbone.*`` keys of the generator), so an
official state dict loads as it is. The math follows the reference exactly: integer-truncated
scalar timesteps, AdaLN modulation with tanh(1 - gate) on self-attention and (1 - gate) on the
feed-forward, qk LayerNorm before rotate-half RoPE, time-aligned "add" fusion, ungated
cross-attention, last-in-first-out skips and a final k=3 convolution.

Everything that depends only on the conditioning (embedded context, per-block context keys and
values, the projected time-aligned content, RoPE tables, attention masks) is gathered by
:meth:`LayerFusionDiT.prepare` into :class:`StepConstants`; :meth:`LayerFusionDiT.velocity` runs
one evaluation from them. ``forward`` is ``velocity(prepare(...))``, so a sampler that prepares
once and evaluates many times runs exactly the same block code as a single forward call.

einops legend: b batch, t latent frames, l context tokens, k attention keys, h attention heads,
d channels per head, c channels, m modulation vectors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .layers import compute_device, initial_derived_buffer
from .ops import ComputeDevice, PlainOps, float32_layer_norm

# Width of the sinusoidal timestep embedding and its period; fixed by the architecture (the
# reference's TimestepEmbedder defaults), not part of the config.
TIMESTEP_CHANNELS = 256
TIMESTEP_MAX_PERIOD = 10000
ROPE_BASE = 10000

# Options of the reference DiT that select code paths. Only the official combination is
# implemented; a config asking for another one is refused instead of silently mis-computed.
SUPPORTED_OPTIONS: dict[str, Any] = {
    "dit_input_type": "1d",
    "dit_patch_size": 1,
    "dit_qk_norm": "layernorm",
    "dit_norm_layer": "layernorm",
    "dit_act_layer": "geglu",
    "dit_context_norm": True,
    "dit_time_fusion": "ada",
    "dit_ta_context_fusion": "add",
    "dit_ta_context_norm": True,
    "dit_context_fusion": "cross",
    "dit_context_pe_method": "none",
    "dit_pe_method": "none",
    "dit_rope_mode": "shared",
}


def config_value(config: Mapping[str, Any], key: str) -> Any:
    """``config[key]`` with an error that says which entry of config.json is missing."""
    if key not in config:
        raise ValueError(
            f"the generator config has no {key!r} entry; pass the complete config.json of a "
            "Dasheng-AudioGen checkpoint"
        )
    return config[key]


def check_supported_options(config: Mapping[str, Any]) -> None:
    """Refuse configs whose architecture options differ from the official model's."""
    for key, official in SUPPORTED_OPTIONS.items():
        value = config.get(key, official)
        if value != official:
            raise ValueError(
                f"unsupported generator config {key}={value!r}: only the official "
                f"Dasheng-AudioGen architecture ({key}={official!r}) is implemented"
            )


def timestep_embedding(timesteps: Tensor, channels: int = TIMESTEP_CHANNELS) -> Tensor:
    """Sinusoidal embedding (b,) -> (b, channels) in float32, cosines first."""
    half = channels // 2
    exponents = torch.arange(0, half, dtype=torch.float32, device=timesteps.device)
    freqs = torch.exp(-math.log(TIMESTEP_MAX_PERIOD) * exponents / half)
    args = timesteps[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _film(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale) + shift


def _key_mask(mask: Tensor | None) -> Tensor | None:
    """(b, k) validity mask -> SDPA boolean mask (b, 1, 1, k); None when every key is valid.

    Dropping an all-true mask is free accuracy-wise and lets SDPA pick its fastest kernels.
    """
    if mask is None or bool(mask.all()):
        return None
    return rearrange(mask.bool(), "b k -> b 1 1 k")


def _rotate_half(x: Tensor) -> Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate-half RoPE on (b, h, t, d), computed in float32 like the reference."""
    x32 = x.float()
    return (x32 * cos + _rotate_half(x32) * sin).to(x.dtype)


class RotaryEmbedding(nn.Module):
    """Owns ``inv_freq`` (a persistent buffer of the official checkpoint); builds RoPE tables."""

    DERIVED_BUFFERS = ("inv_freq",)

    def __init__(self, head_dim: int) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.register_buffer("inv_freq", initial_derived_buffer(self._frequencies))

    def _frequencies(self, device: torch.device) -> Tensor:
        exponents = torch.arange(0, self.head_dim, 2, device=device).float() / self.head_dim
        return 1.0 / (ROPE_BASE**exponents)

    def reset_derived_buffers(self) -> None:
        self.inv_freq = self._frequencies(compute_device(self.inv_freq))

    def _apply(self, fn, recurse=True):
        # ``module.to(torch.bfloat16)`` would round the frequencies too; positions up to a few
        # thousand frames need them in float32, so they are recomputed after any such cast.
        super()._apply(fn, recurse)
        if self.inv_freq.dtype != torch.float32 and not self.inv_freq.is_meta:
            self.reset_derived_buffers()
        return self

    def tables(self, length: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """float32 (cos, sin) tables of shape (length, head_dim) for positions 0..length-1."""
        positions = torch.arange(length, dtype=torch.float32, device=device)
        angles = torch.outer(positions, self.inv_freq.float().to(device))
        angles = torch.cat([angles, angles], dim=-1)
        return angles.cos(), angles.sin()


class Attention(nn.Module):
    """Multi-head attention with LayerNorm-ed queries and keys (per head) and optional RoPE."""

    def __init__(self, dim: int, num_heads: int, rotary: bool, operations=PlainOps) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        LayerNorm = float32_layer_norm(operations)
        self.to_q = operations.Linear(dim, dim, bias=False)
        self.to_k = operations.Linear(dim, dim, bias=False)
        self.to_v = operations.Linear(dim, dim, bias=False)
        self.norm_q = LayerNorm(head_dim)
        self.norm_k = LayerNorm(head_dim)
        self.proj = operations.Linear(dim, dim)
        if rotary:
            self.rotary = RotaryEmbedding(head_dim)

    def _heads(self, x: Tensor, linear: nn.Linear) -> Tensor:
        return rearrange(linear(x), "b t (h d) -> b h t d", h=self.num_heads)

    def keys_values(self, source: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised keys and values (b, h, k, d) of ``source`` (b, k, c), RoPE not applied."""
        return self.norm_k(self._heads(source, self.to_k)), self._heads(source, self.to_v)

    def attend(
        self,
        x: Tensor,
        keys: Tensor,
        values: Tensor,
        key_mask: Tensor | None,
        rope: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """Queries from ``x`` (b, t, c) attend to ``keys``/``values``; returns (b, t, c)."""
        queries = self.norm_q(self._heads(x, self.to_q))
        if rope is not None:
            queries, keys = apply_rope(queries, *rope), apply_rope(keys, *rope)
        out = F.scaled_dot_product_attention(queries, keys, values, attn_mask=key_mask)
        return self.proj(rearrange(out, "b h t d -> b t (h d)"))


class GEGLU(nn.Module):
    """``value * GELU(gate)`` with value and gate the two halves of one projection."""

    def __init__(self, dim: int, inner_dim: int, operations=PlainOps) -> None:
        super().__init__()
        self.proj = operations.Linear(dim, 2 * inner_dim)

    def forward(self, x: Tensor) -> Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, inner_dim: int, operations=PlainOps) -> None:
        super().__init__()
        # Slot 1 is the reference's (inactive) dropout; keeping it keeps the key "net.2".
        self.net = nn.ModuleList(
            [
                GEGLU(dim, inner_dim, operations),
                nn.Identity(),
                operations.Linear(inner_dim, dim),
            ]
        )

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class AdaLN(nn.Module):
    """Six modulation vectors per block, a linear map of the time token."""

    def __init__(self, dim: int, operations=PlainOps) -> None:
        super().__init__()
        self.time_ada = operations.Linear(dim, 6 * dim)

    def forward(self, time_token: Tensor) -> tuple[Tensor, ...]:
        """(b, c) -> shift, scale, gate (attention) and shift, scale, gate (MLP), each (b, 1, c)."""
        return tuple(rearrange(self.time_ada(time_token), "b (m c) -> m b 1 c", m=6))


@dataclass
class BlockConstants:
    """What one block needs from the conditioning; constant over the sampling steps."""

    time_aligned: Tensor  # (b, t or 1, c): W_ta LN(time-aligned content), added to every frame
    context_keys: Tensor  # (b, h, l, d)
    context_values: Tensor  # (b, h, l, d)


@dataclass
class StepConstants:
    """Everything :meth:`LayerFusionDiT.velocity` needs besides the latent and the timestep."""

    blocks: list[BlockConstants]  # in order: in-blocks, mid-block, out-blocks
    rope: tuple[Tensor, Tensor]  # float32 (t, d) cos and sin tables
    x_mask: Tensor | None  # (b, 1, 1, t) self-attention key mask, None = all frames valid
    context_mask: Tensor | None  # (b, 1, 1, l) cross-attention key mask
    num_frames: int


class DiTBlock(nn.Module):
    """One ``LayerFusionDiTBlock``: [skip fusion], self-attention, time-aligned add,
    cross-attention, feed-forward."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        ta_context_dim: int,
        skip: bool,
        operations=PlainOps,
    ) -> None:
        super().__init__()
        LayerNorm = float32_layer_norm(operations)
        # Registration order = the official state-dict order.
        self.norm1 = LayerNorm(dim)
        self.attn = Attention(dim, num_heads, rotary=True, operations=operations)
        self.cross_attn = Attention(dim, num_heads, rotary=False, operations=operations)
        self.norm2 = LayerNorm(dim)
        self.norm_context = LayerNorm(dim)
        self.norm3 = LayerNorm(dim)
        self.mlp = FeedForward(dim, int(dim * mlp_ratio), operations)
        self.adaln = AdaLN(dim, operations)
        if skip:
            self.skip_norm = LayerNorm(2 * dim)
            self.skip_linear = operations.Linear(2 * dim, dim)
        self.has_skip = skip
        self.ta_context_projection = operations.Linear(ta_context_dim, dim, bias=False)
        self.ta_context_norm = LayerNorm(ta_context_dim)

    def constants(self, time_aligned_context: Tensor, context_tokens: Tensor) -> BlockConstants:
        """Per-block terms that depend on the conditioning only (not on the latent or time)."""
        keys, values = self.cross_attn.keys_values(self.norm_context(context_tokens))
        time_aligned = self.ta_context_projection(self.ta_context_norm(time_aligned_context))
        return BlockConstants(time_aligned, keys, values)

    def forward(
        self,
        h: Tensor,
        time_token: Tensor,
        constants: BlockConstants,
        step: StepConstants,
        skip: Tensor | None = None,
    ) -> Tensor:
        if self.has_skip:
            h = self.skip_linear(self.skip_norm(torch.cat([h, skip], dim=-1)))
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaln(time_token)

        u = _film(self.norm1(h), shift_msa, scale_msa)
        keys, values = self.attn.keys_values(u)
        h = h + torch.tanh(1 - gate_msa) * self.attn.attend(u, keys, values, step.x_mask, step.rope)

        h = h + constants.time_aligned
        h = h + self.cross_attn.attend(
            self.norm2(h), constants.context_keys, constants.context_values, step.context_mask
        )

        v = _film(self.norm3(h), shift_mlp, scale_mlp)
        return h + (1 - gate_mlp) * self.mlp(v)


class PatchEmbed(nn.Module):
    """Per-frame projection latent -> model width (a k=1 convolution, patch size 1)."""

    def __init__(self, in_chans: int, dim: int, operations=PlainOps) -> None:
        super().__init__()
        self.proj = operations.Conv1d(in_chans, dim, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        return rearrange(self.proj(x), "b c t -> b t c")


class TimestepEmbedder(nn.Module):
    def __init__(self, dim: int, operations=PlainOps) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            operations.Linear(TIMESTEP_CHANNELS, dim), nn.SiLU(), operations.Linear(dim, dim)
        )

    def forward(self, timesteps: Tensor, dtype: torch.dtype) -> Tensor:
        """(b,) timesteps -> (b, dim) in the compute ``dtype``."""
        return self.mlp(timestep_embedding(timesteps, TIMESTEP_CHANNELS).to(dtype))


class FinalBlock(nn.Module):
    """Modulated LayerNorm, linear to the latent width, then a k=3 convolution over frames."""

    def __init__(self, dim: int, out_chans: int, operations=PlainOps) -> None:
        super().__init__()
        self.norm = float32_layer_norm(operations)(dim)
        self.linear = operations.Linear(dim, out_chans)
        self.final_layer = operations.Conv1d(out_chans, out_chans, kernel_size=3, padding=1)

    def forward(self, h: Tensor, modulation: Tensor) -> Tensor:
        shift, scale = rearrange(modulation, "b (m c) -> m b 1 c", m=2)
        y = self.linear(_film(self.norm(h), shift, scale))
        return self.final_layer(rearrange(y, "b t c -> b c t"))


class LayerFusionDiT(ComputeDevice, nn.Module):
    """The generator's ``backbone``: latent (b, c, t) + conditioning -> velocity (b, c, t)."""

    def __init__(
        self,
        *,
        in_chans: int,
        out_chans: int,
        embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float,
        context_dim: int,
        ta_context_dim: int,
        operations=PlainOps,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads or (embed_dim // num_heads) % 2:
            raise ValueError(
                f"dit_embed_dim={embed_dim} must split into dit_num_heads={num_heads} heads of an "
                "even width (RoPE rotates channel pairs)"
            )
        self.patch_embed = PatchEmbed(in_chans, embed_dim, operations)
        self.time_embed = TimestepEmbedder(embed_dim, operations)
        self.time_ada_final = operations.Linear(embed_dim, 2 * embed_dim)
        self.context_embed = nn.Sequential(
            operations.Linear(context_dim, embed_dim),
            nn.SiLU(),
            operations.Linear(embed_dim, embed_dim),
        )

        def block(skip: bool) -> DiTBlock:
            return DiTBlock(embed_dim, num_heads, mlp_ratio, ta_context_dim, skip, operations)

        self.in_blocks = nn.ModuleList([block(False) for _ in range(depth // 2)])
        self.mid_block = block(False)
        self.out_blocks = nn.ModuleList([block(True) for _ in range(depth // 2)])
        self.final_block = FinalBlock(embed_dim, out_chans, operations)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], operations=PlainOps) -> LayerFusionDiT:
        """Build from the generator's config.json (the ``dit_*`` entries)."""
        check_supported_options(config)
        return cls(
            operations=operations,
            in_chans=config_value(config, "dit_in_chans"),
            out_chans=config_value(config, "dit_out_chans"),
            embed_dim=config_value(config, "dit_embed_dim"),
            depth=config_value(config, "dit_depth"),
            num_heads=config_value(config, "dit_num_heads"),
            mlp_ratio=config_value(config, "dit_mlp_ratio"),
            context_dim=config_value(config, "dit_context_dim"),
            ta_context_dim=config_value(config, "dit_ta_context_dim"),
        )

    @property
    def dtype(self) -> torch.dtype:
        """The compute dtype: that of the norms (matrix weights may be stored narrower)."""
        return self.final_block.norm.weight.dtype

    def _blocks(self) -> list[DiTBlock]:
        return [*self.in_blocks, self.mid_block, *self.out_blocks]

    def time_token(self, timesteps: Tensor) -> Tensor:
        """SiLU(timestep MLP): (1, c) for a 0-dim timestep (shared by the batch), else (b, c)."""
        if timesteps.dim() == 0:
            # The reference casts a scalar timestep to int64 before embedding it (734.6 -> 734);
            # a 1-D timestep tensor is embedded as it is.
            timesteps = timesteps.reshape(1).long()
        return F.silu(self.time_embed(timesteps, self.dtype))

    def prepare(
        self,
        num_frames: int,
        time_aligned_context: Tensor,
        context: Tensor,
        x_mask: Tensor | None = None,
        context_mask: Tensor | None = None,
    ) -> StepConstants:
        """Conditioning-only terms of an evaluation, to reuse across sampling steps.

        ``time_aligned_context`` is (b, num_frames, c_ta), or (b, 1, c_ta) for the same content
        on every frame (text-to-audio); ``context`` (b, l, c_ctx); masks are bool, True = valid.
        """
        frames = time_aligned_context.shape[1]
        if frames not in (1, num_frames):
            raise ValueError(
                f"time_aligned_context has {frames} frames; it needs {num_frames} (one per "
                "latent frame) or 1 (the same content on every frame)"
            )
        if x_mask is not None and x_mask.shape[-1] != num_frames:
            raise ValueError(f"x_mask covers {x_mask.shape[-1]} frames, the latent {num_frames}")
        dtype = self.dtype
        context_tokens = self.context_embed(context.to(dtype))
        time_aligned_context = time_aligned_context.to(dtype)
        return StepConstants(
            blocks=[blk.constants(time_aligned_context, context_tokens) for blk in self._blocks()],
            rope=self.mid_block.attn.rotary.tables(num_frames, context.device),
            x_mask=_key_mask(x_mask),
            context_mask=_key_mask(context_mask),
            num_frames=num_frames,
        )

    def velocity(self, x: Tensor, timesteps: Tensor, constants: StepConstants) -> Tensor:
        """One evaluation: latent x (b, c, t) at ``timesteps`` -> velocity (b, c, t)."""
        if x.shape[-1] != constants.num_frames:
            raise ValueError(
                f"the latent has {x.shape[-1]} frames but the step constants were prepared for "
                f"{constants.num_frames}; call prepare() with the latent's length"
            )
        h = self.patch_embed(x.to(self.dtype))
        time_token = self.time_token(timesteps)
        per_block = iter(constants.blocks)
        skips = []
        for block in self.in_blocks:
            h = block(h, time_token, next(per_block), constants)
            skips.append(h)
        h = self.mid_block(h, time_token, next(per_block), constants)
        for block in self.out_blocks:
            h = block(h, time_token, next(per_block), constants, skip=skips.pop())
        return self.final_block(h, self.time_ada_final(time_token))

    def forward(
        self,
        x: Tensor,
        timesteps: Tensor,
        time_aligned_context: Tensor,
        context: Tensor,
        x_mask: Tensor | None = None,
        context_mask: Tensor | None = None,
    ) -> Tensor:
        """The reference call: velocity (b, c, t) of latent x (b, c, t), channels-first."""
        constants = self.prepare(x.shape[-1], time_aligned_context, context, x_mask, context_mask)
        return self.velocity(x, timesteps, constants)
