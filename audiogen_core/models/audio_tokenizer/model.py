"""``DashengAudioTokenizer``: 16 kHz waveform <-> 25 Hz latent of Dasheng-AudioGen.

State-dict keys equal those of the official ``mispeech/dashengtokenizer`` checkpoint
(``encoder.*``, ``upsampler.*``, ``decoder.*``). Text-to-audio only needs the decode path, so the
encoder (about 630 M of the 805 M parameters) can be left out with ``include_encoder=False``.
Every size comes from the checkpoint's ``config.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from ..ops import ComputeDevice, PlainOps
from .decoder import VocosDecoder
from .encoder import (
    ACOUSTIC_N_FFT,
    SAMPLE_RATE,
    SEMANTIC_HOP,
    SEMANTIC_N_FFT,
    TokenizerEncoder,
)


@dataclass(frozen=True)
class TokenizerConfig:
    """The size fields of the official tokenizer ``config.json`` (other keys are ignored)."""

    embed_dim: int
    depth: int
    num_heads: int
    decoder_embed_dim: int
    decoder_depth: int
    decoder_intermediate_size: int
    istft_n_fft: int
    istft_hop: int
    upsample_tokens: int
    n_mels_patch: int
    hop_length: int

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> TokenizerConfig:
        missing = [f.name for f in fields(cls) if f.name not in config]
        if missing:
            raise ValueError(
                f"audio tokenizer config lacks {missing}; pass the config.json of "
                "mispeech/dashengtokenizer (or a dict with the same keys)"
            )
        made = cls(**{f.name: int(config[f.name]) for f in fields(cls)})
        made.validate()
        return made

    def validate(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} is not divisible by num_heads "
                f"{self.num_heads}; check the tokenizer config"
            )
        if self.upsample_tokens < 1:
            raise ValueError(f"upsample_tokens must be >= 1, got {self.upsample_tokens}")
        if self.hop_length < SEMANTIC_HOP:
            raise ValueError(
                f"hop_length {self.hop_length} is below the semantic encoder's fixed "
                f"hop of {SEMANTIC_HOP}: the two encoder branches would not align"
            )


class DashengAudioTokenizer(ComputeDevice, nn.Module):
    """Audio tokenizer: ``encode`` (B, N) waveform -> (B, C, T) latent, ``decode`` back."""

    def __init__(
        self, config: TokenizerConfig, include_encoder: bool = True, operations=PlainOps
    ) -> None:
        super().__init__()
        self.config = config
        self.encoder = (
            TokenizerEncoder(
                config.embed_dim,
                config.depth,
                config.num_heads,
                config.n_mels_patch,
                config.hop_length,
                operations,
            )
            if include_encoder
            else None
        )
        self.upsampler = (
            operations.ConvTranspose1d(
                config.embed_dim,
                config.embed_dim,
                config.upsample_tokens,
                stride=config.upsample_tokens,
            )
            if config.upsample_tokens > 1
            else None
        )
        self.decoder = VocosDecoder(
            config.embed_dim,
            config.decoder_embed_dim,
            config.decoder_intermediate_size,
            config.decoder_depth,
            config.istft_n_fft,
            config.istft_hop,
            operations,
        )

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], include_encoder: bool = True, operations=PlainOps
    ) -> DashengAudioTokenizer:
        """Build from an official tokenizer ``config.json`` dict (random weights)."""
        return cls(TokenizerConfig.from_dict(config), include_encoder, operations)

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def samples_per_frame(self) -> int:
        """Waveform samples per latent frame (640 officially)."""
        return self.config.istft_hop * self.config.upsample_tokens

    @property
    def frame_rate(self) -> int:
        """Latent frames per second (25 officially; integer division as in the reference)."""
        return self.sample_rate // self.samples_per_frame

    @property
    def latent_dim(self) -> int:
        return self.config.embed_dim

    @property
    def has_encoder(self) -> bool:
        return self.encoder is not None

    @property
    def dtype(self) -> torch.dtype:
        """The compute dtype: the norms' (matrix weights may be stored narrower)."""
        return self.decoder.backbone.norm.weight.dtype

    def _weights_device(self) -> torch.device:
        return self.decoder.head.out.weight.device

    @property
    def min_encode_samples(self) -> int:
        """Shortest waveform ``encode`` accepts: one latent token, and more samples than the
        reflect padding of both STFTs."""
        return max(3 * self.config.hop_length, ACOUSTIC_N_FFT // 2 + 1, SEMANTIC_N_FFT // 2 + 1)

    @property
    def decode_context_frames(self) -> int:
        """Latent frames on each side that can change a latent frame's decoded samples.

        An upper bound of the decoder's reach: the upsampler maps each frame on its own
        (kernel = stride); the backbone's 1 + decoder_depth convolutions of kernel 7 reach 3
        upsampled frames each; the inverse STFT's windows of istft_n_fft samples overlap
        fewer than istft_n_fft / istft_hop frames. Decoding a latent in pieces that carry this
        many extra frames on each side and dropping their samples gives the same audio as
        decoding it at once.
        """
        config = self.config
        reach = 3 * (1 + config.decoder_depth) + math.ceil(config.istft_n_fft / config.istft_hop)
        return math.ceil(reach / config.upsample_tokens)

    def upsample(self, latent: Tensor) -> Tensor:
        """Latent (B, C, T) -> decoder input (B, C, T * upsample), both channels-first."""
        return latent if self.upsampler is None else self.upsampler(latent)

    @torch.no_grad()
    def decode(self, latent: Tensor) -> Tensor:
        """Latent (B, C, T) -> float32 waveform (B, T * samples_per_frame) at 16 kHz.

        Latents are channels-first, as the generator makes them and the decoder reads them (the
        official tokenizer takes them time-major, (B, T, C)).
        """
        self._check_latent(latent)
        latent = latent.to(device=self.device, dtype=self.dtype)
        return self.decoder(self.upsample(latent))

    @torch.no_grad()
    def encode(self, waveform: Tensor) -> Tensor:
        """16 kHz waveform (B, N) -> float32 latent (B, C, floor((1 + N // hop_length) / 4)).

        Items of a batch are not independent: the semantic front-end's decibel floor comes from
        the loudest value in the whole batch, as in the official encoder. Encode clips one at a
        time to get per-clip results.
        """
        if self.encoder is None:
            raise RuntimeError(
                "this audio tokenizer was loaded without its encoder "
                "(include_encoder=False); load it with include_encoder=True "
                "to encode audio"
            )
        self._check_waveform(waveform)
        tokens = self.encoder(waveform.to(device=self.device, dtype=torch.float32)).float()
        return tokens.transpose(1, 2)  # the encoder's transformer yields (B, T, C)

    def _check_latent(self, latent: Tensor) -> None:
        if latent.dim() != 3 or latent.shape[1] != self.latent_dim:
            raise ValueError(
                f"decode expects a channels-first latent (batch, {self.latent_dim}, frames), got "
                f"shape {tuple(latent.shape)}; a time-major (batch, frames, {self.latent_dim}) "
                "latent needs .transpose(1, 2)"
            )
        if not latent.is_floating_point() or latent.shape[0] == 0 or latent.shape[2] == 0:
            raise ValueError(
                f"decode needs a non-empty floating-point latent, got dtype "
                f"{latent.dtype} and shape {tuple(latent.shape)}"
            )

    def _check_waveform(self, waveform: Tensor) -> None:
        if waveform.dim() != 2 or waveform.shape[0] == 0:
            raise ValueError(
                f"encode expects a mono waveform batch (batch, samples), got shape "
                f"{tuple(waveform.shape)}; use waveform[None] for a single clip and "
                "mix channels down first"
            )
        if not waveform.is_floating_point():
            raise ValueError(
                f"encode expects a floating-point waveform in [-1, 1], got "
                f"{waveform.dtype}; convert integer PCM first"
            )
        shortest = self.min_encode_samples
        if waveform.shape[1] < shortest:
            raise ValueError(
                f"waveform has {waveform.shape[1]} samples; encode needs at least {shortest} "
                f"({math.ceil(1000 * shortest / self.sample_rate)} ms at {self.sample_rate} Hz)"
            )
        if not torch.isfinite(waveform).all():
            raise ValueError("waveform contains NaN or infinite samples; clean the audio first")
