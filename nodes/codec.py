"""Semantic-acoustic decoder and encoder: AUDIOGEN_LATENT <-> ComfyUI AUDIO."""

from __future__ import annotations

from audiogen_core.pipeline import AudioGenPipeline, AudioLatent

from . import common
from .managed import ManagedModel, ready


class AudioGenDecode:
    DISPLAY_NAME = "AudioGen Decode"
    DESCRIPTION = (
        "Turns latent audio into a 16 kHz mono AUDIO with the DashengTokenizer decoder. "
        "Each item is cut to its exact length (round(seconds x 16000) samples for a "
        "set duration); shorter items of a batch are padded with silence."
    )
    CATEGORY = common.CATEGORY
    RETURN_TYPES = ("AUDIO",)
    RETURN_NAMES = ("audio",)
    OUTPUT_TOOLTIPS = ("16 kHz mono audio, one clip per batch item.",)
    FUNCTION = "decode"

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "audio_tokenizer": (
                    common.AUDIO_TOKENIZER,
                    {"tooltip": "From AudioGen Load Audio Tokenizer."},
                ),
                "latent": (common.LATENT, {"tooltip": "From AudioGen Sampler or AudioGen Encode."}),
            }
        }

    def decode(self, audio_tokenizer: ManagedModel, latent: AudioLatent) -> tuple[dict]:
        with common.user_errors(self.DISPLAY_NAME):
            ready(audio_tokenizer)
            pipe = AudioGenPipeline(audio_tokenizer=audio_tokenizer.component)
            waveform = pipe.decode(latent)
        return ({"waveform": waveform, "sample_rate": pipe.sample_rate},)


class AudioGenEncode:
    DISPLAY_NAME = "AudioGen Encode Audio"
    DESCRIPTION = (
        "Turns any AUDIO (any sample rate, mono or stereo) into AudioGen latent audio: "
        "channels are averaged to mono and resampled to 16 kHz first. Needs the "
        "audio tokenizer loaded with load_encoder on."
    )
    CATEGORY = common.CATEGORY
    RETURN_TYPES = (common.LATENT,)
    RETURN_NAMES = ("latent",)
    OUTPUT_TOOLTIPS = ("Latent audio (25 frames per second) of the 16 kHz mono mix.",)
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "audio_tokenizer": (
                    common.AUDIO_TOKENIZER,
                    {"tooltip": "From AudioGen Load Audio Tokenizer with load_encoder = true."},
                ),
                "audio": (
                    "AUDIO",
                    {
                        "tooltip": "Any audio: Load Audio, a video's soundtrack, a "
                        "decoded clip. Clips of a batch must have one length."
                    },
                ),
            }
        }

    def encode(self, audio_tokenizer: ManagedModel, audio: dict) -> tuple[AudioLatent]:
        with common.user_errors(self.DISPLAY_NAME):
            if audio is None:
                raise ValueError(
                    "the audio input is empty (a video without a soundtrack?); "
                    "connect audio that has samples."
                )
            if not audio_tokenizer.component.has_encoder:
                raise ValueError(
                    "this audio tokenizer was loaded without its encoder: set "
                    "load_encoder to true on AudioGen Load Audio Tokenizer."
                )
            ready(audio_tokenizer)
            pipe = AudioGenPipeline(audio_tokenizer=audio_tokenizer.component)
            latent = pipe.encode_audio(audio["waveform"], int(audio["sample_rate"]))
        return (latent,)


NODES = (AudioGenDecode, AudioGenEncode)
