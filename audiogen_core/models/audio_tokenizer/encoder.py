"""Encoder of the audio tokenizer: 16 kHz waveform -> 25 Hz latent (B, T, embed_dim).

Two branches are summed token by token:

* semantic: the Dasheng audio transformer (``encoder.model.*``): 64-bin log-mel front-end with a
  batch-wide dB floor, BatchNorm over mel bins, 64x4 patches, pre-LN ViT blocks run on 1008-frame
  chunks whose positional embeddings restart at 0;
* acoustic: 128-bin natural-log mel magnitude, one (n_mels x 4) patch conv and a LayerNorm.

The hard-coded parts (semantic front-end, patch size, chunk length, MLP ratio) are those of the
official encoder; every width, depth and head count comes from the config.

Shapes: b = batch, f = mel bins, t = frames or tokens, c = channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ..ops import PlainOps, float32_layer_norm
from .frontend import AmplitudeToDB, LogMelSpectrogram, MelSpectrogram

SAMPLE_RATE = 16000
# The semantic branch's front-end and patching are fixed by the pretrained Dasheng encoder.
SEMANTIC_N_FFT = 512
SEMANTIC_HOP = 160
SEMANTIC_N_MELS = 64
SEMANTIC_TOP_DB = 120.0
PATCH_FRAMES = 4
CHUNK_TOKENS = 252
ACOUSTIC_N_FFT = 1024
MLP_RATIO = 4


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (keys ``qkv``, ``proj``)."""

    def __init__(self, dim: int, num_heads: int, operations=PlainOps) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = operations.Linear(dim, 3 * dim)
        self.proj = operations.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = rearrange(
            self.qkv(x), "b t (three h d) -> three b h t d", three=3, h=self.num_heads
        )
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(rearrange(out, "b h t d -> b t (h d)"))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, operations=PlainOps) -> None:
        super().__init__()
        self.fc1 = operations.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = operations.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-LN transformer block (LayerNorm eps 1e-6)."""

    def __init__(self, dim: int, num_heads: int, operations=PlainOps) -> None:
        super().__init__()
        LayerNorm = float32_layer_norm(operations)
        self.norm1 = LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, operations)
        self.norm2 = LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, MLP_RATIO * dim, operations)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Non-overlapping (mel bins x 4 frames) patches; the conv sits under ``proj``."""

    def __init__(self, n_mels: int, dim: int, operations=PlainOps) -> None:
        super().__init__()
        self.proj = operations.Conv2d(1, dim, (n_mels, PATCH_FRAMES), stride=(n_mels, PATCH_FRAMES))

    def forward(self, mel: Tensor) -> Tensor:
        return self.proj(mel)


class MelBatchNorm(nn.Module):
    """Eval-mode BatchNorm over the mel bins, computed in float32.

    The official module is ``Sequential(Rearrange, BatchNorm2d, Rearrange)``; only its index 1
    holds state, so the BatchNorm is registered under the name "1" to keep the checkpoint keys
    (``init_bn.1.running_mean`` ...), and the rearranges become the (B, F, T) layout used here.
    """

    def __init__(self, n_mels: int) -> None:
        super().__init__()
        self.add_module("1", nn.BatchNorm2d(n_mels, momentum=0.01))

    def forward(self, mel_db: Tensor) -> Tensor:
        """(B, n_mels, frames) float32 -> same shape, normalised per mel bin."""
        bn: nn.BatchNorm2d = getattr(self, "1")

        def stat(tensor: Tensor) -> Tensor:  # a model manager may leave it offloaded
            return tensor.to(device=mel_db.device, dtype=torch.float32)

        return F.batch_norm(
            mel_db.float(),
            stat(bn.running_mean),
            stat(bn.running_var),
            stat(bn.weight),
            stat(bn.bias),
            training=False,
            momentum=0.0,
            eps=bn.eps,
        )


class DashengEncoder(nn.Module):
    """The Dasheng audio transformer without its output layer (``encoder.model.*``)."""

    def __init__(self, embed_dim: int, depth: int, num_heads: int, operations=PlainOps) -> None:
        super().__init__()
        self.time_pos_embed = nn.Parameter(torch.zeros(1, embed_dim, 1, CHUNK_TOKENS))
        self.freq_pos_embed = nn.Parameter(torch.zeros(1, embed_dim, 1, 1))
        self.front_end = nn.Sequential(
            MelSpectrogram(SAMPLE_RATE, SEMANTIC_N_FFT, SEMANTIC_HOP, SEMANTIC_N_MELS, power=2.0),
            AmplitudeToDB(SEMANTIC_TOP_DB),
        )
        self.patch_embed = PatchEmbed(SEMANTIC_N_MELS, embed_dim, operations)
        self.init_bn = MelBatchNorm(SEMANTIC_N_MELS)
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, operations) for _ in range(depth))
        self.norm = float32_layer_norm(operations)(embed_dim, eps=1e-6)

    @property
    def chunk_frames(self) -> int:
        """Mel frames per transformer chunk (1008 officially): one positional slot per patch."""
        return PATCH_FRAMES * self.time_pos_embed.shape[-1]

    def features(self, waveform: Tensor) -> Tensor:
        """(B, N) -> normalised log-mel (B, 64, 1 + N // 160), float32."""
        return self.init_bn(self.front_end(waveform))

    def transform(self, mel: Tensor) -> Tensor:
        """Normalised log-mel (B, 64, frames) -> tokens (B, sum of floor(chunk / 4), dim)."""
        chunks = list(mel.split(self.chunk_frames, dim=-1))
        if chunks[-1].shape[-1] < PATCH_FRAMES:
            chunks[-1] = F.pad(chunks[-1], (0, PATCH_FRAMES - chunks[-1].shape[-1]))
        return torch.cat([self._transform_chunk(chunk) for chunk in chunks], dim=1)

    def _transform_chunk(self, mel: Tensor) -> Tensor:
        x = self.patch_embed(mel.unsqueeze(1).to(self.time_pos_embed.dtype))
        # Every chunk starts again at positional slot 0. The embeddings are cast on use: a model
        # manager may leave these raw parameters on the offload device.
        time_pos = self.time_pos_embed[..., : x.shape[-1]].to(x.device)
        x = x + time_pos + self.freq_pos_embed.to(x.device)
        x = rearrange(x, "b c f t -> b (f t) c")
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, waveform: Tensor) -> Tensor:
        """(B, N) -> semantic tokens (B, T_s, dim) in the module dtype."""
        return self.transform(self.features(waveform))


class TokenizerEncoder(nn.Module):
    """Semantic transformer plus acoustic mel-patch branch (``encoder.*``)."""

    def __init__(
        self,
        embed_dim: int,
        depth: int,
        num_heads: int,
        n_mels_patch: int,
        hop_length: int,
        operations=PlainOps,
    ) -> None:
        super().__init__()
        self.model = DashengEncoder(embed_dim, depth, num_heads, operations)
        self.front_end = LogMelSpectrogram(SAMPLE_RATE, ACOUSTIC_N_FFT, hop_length, n_mels_patch)
        self.patch_embed = operations.Conv2d(
            1, embed_dim, (n_mels_patch, PATCH_FRAMES), stride=(n_mels_patch, PATCH_FRAMES)
        )
        self.norm = float32_layer_norm(operations)(embed_dim, eps=1e-5)

    def acoustic(self, log_mel: Tensor) -> Tensor:
        """Log-mel (B, n_mels, frames) -> acoustic tokens (B, floor(frames / 4), dim)."""
        x = self.patch_embed(log_mel.unsqueeze(1).to(self.norm.weight.dtype))
        return self.norm(rearrange(x, "b c f t -> b (f t) c"))

    def forward(self, waveform: Tensor) -> Tensor:
        """(B, N) float -> latent (B, floor((1 + N // hop) / 4), dim) in the module dtype."""
        acoustic = self.acoustic(self.front_end(waveform))
        semantic = self.model(waveform)
        return semantic[:, : acoustic.shape[1]] + acoustic
