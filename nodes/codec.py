"""Semantic-acoustic decoder and encoder: AUDIOGEN_LATENT <-> ComfyUI AUDIO.

Decode plays its takes in the node (``display.takes``) and adds the takes' ``seeds`` to the
AUDIO dict beside ``waveform`` and ``sample_rate``, so the Mixer can name them too; nodes that
know only the two usual keys ignore it.
"""

from __future__ import annotations

from comfy_api.latest import io

from audiogen_core.pipeline import AudioGenPipeline
from audiogen_core.sampling.latent import AudioLatent

from . import common, display
from .managed import ManagedModel, decoding_memory, ready

ALIASES = ("audiogen", "vae decode audio", "vocoder", "latent to audio")


class AudioGenDecode(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Decode"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenDecode",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Turns latent audio into a 16 kHz mono AUDIO with the DashengTokenizer decoder. "
                "Each item is cut to its exact length (round(seconds x 16000) samples for a "
                "set duration); shorter items of a batch are padded with silence.\n\n"
                "Connect audio to Save Audio, Preview Audio, Create Video, AudioGen Mix Layer "
                "or AudioGen Mixer."
            ),
            inputs=[
                common.AudioTokenizer.Input(
                    "audio_tokenizer", tooltip="From AudioGen Load Audio Tokenizer."
                ),
                common.Latent.Input("latent", tooltip="From AudioGen Sampler or AudioGen Encode."),
            ],
            outputs=[
                io.Audio.Output(
                    display_name="audio", tooltip="16 kHz mono audio, one clip per batch item."
                )
            ],
            **common.search_aliases(*ALIASES, "text to audio", "sound effects"),
        )

    @classmethod
    def execute(cls, audio_tokenizer: ManagedModel, latent: AudioLatent) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            ready(audio_tokenizer.patcher, memory_required=decoding_memory(audio_tokenizer, latent))
            pipe = AudioGenPipeline(audio_tokenizer=audio_tokenizer.component)
            waveform = pipe.decode(latent)
        audio = {"waveform": waveform, "sample_rate": pipe.sample_rate}
        if latent.seeds:
            audio["seeds"] = list(latent.seeds)
        shown = display.takes(audio, cls, latent.seeds, list(latent.durations_s))
        return io.NodeOutput(audio, ui=shown)


class AudioGenEncode(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Encode Audio"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenEncode",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Turns any AUDIO (any sample rate, mono or stereo) into AudioGen latent audio: "
                "channels are averaged to mono and resampled to 16 kHz first. Needs the "
                "audio tokenizer loaded with load_encoder on. Decoding the result again gives a "
                "round trip through the codec.\n\n"
                "Connect latent to the Sampler's latent input (a variation with denoise below "
                "1), to AudioGen Regenerate Range or AudioGen Extend, or to AudioGen Decode."
            ),
            inputs=[
                common.AudioTokenizer.Input(
                    "audio_tokenizer",
                    tooltip="From AudioGen Load Audio Tokenizer with load_encoder = true.",
                ),
                io.Audio.Input(
                    "audio",
                    tooltip="Any audio: Load Audio, a video's soundtrack, a decoded clip. "
                    "Clips of a batch must have one length.",
                ),
            ],
            outputs=[
                common.Latent.Output(
                    display_name="latent",
                    tooltip="Latent audio (25 frames per second) of the 16 kHz mono mix.",
                )
            ],
            **common.search_aliases("audiogen", "vae encode audio", "audio to latent"),
        )

    @classmethod
    def execute(cls, audio_tokenizer: ManagedModel, audio: dict) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
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
            ready(audio_tokenizer.patcher)
            pipe = AudioGenPipeline(audio_tokenizer=audio_tokenizer.component)
            latent = pipe.encode_audio(audio["waveform"], int(audio["sample_rate"]))
        return io.NodeOutput(latent)


NODES = (AudioGenDecode, AudioGenEncode)
