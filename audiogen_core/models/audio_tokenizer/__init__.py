"""DashengTokenizer: audio encoder (waveform -> latent) and Vocos decoder (latent -> waveform)."""

from .model import DashengAudioTokenizer, TokenizerConfig

__all__ = ["DashengAudioTokenizer", "TokenizerConfig"]
