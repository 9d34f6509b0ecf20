"""Loader nodes: the generator, the text encoder and the audio tokenizer snapshot folders."""

from __future__ import annotations

from functools import partial

from audiogen_core.devices import DEVICE_CHOICES, DTYPE_CHOICES
from audiogen_core.weights import (
    AUDIO_TOKENIZER,
    GENERATOR,
    TEXT_ENCODER,
    SnapshotKind,
    load_audio_tokenizer,
    load_generator,
    load_text_encoder,
)

from . import common, model_paths
from .managed import ManagedModel, load_managed

DEVICE_TOOLTIP = (
    "Where the model computes. auto: ComfyUI's GPU when there is one (the model "
    "is moved off it when other models need the memory), else the CPU."
)
PRECISION_TOOLTIP = (
    "Weight precision. auto: bf16 on GPUs that support it (fp16 otherwise); on the CPU "
    "bf16 where it computes bf16 natively (AMX or AVX512-BF16), else fp32. fp32 is the "
    "reference; bf16/fp16 weights take half the memory of fp32."
)


def _folder_input(kind: SnapshotKind, tooltip: str) -> tuple:
    return (model_paths.list_snapshots(kind), {"default": kind.folder_name, "tooltip": tooltip})


def _common_inputs() -> dict:
    return {
        "device": (list(DEVICE_CHOICES), {"default": "auto", "tooltip": DEVICE_TOOLTIP}),
        "precision": (list(DTYPE_CHOICES), {"default": "auto", "tooltip": PRECISION_TOOLTIP}),
    }


class AudioGenModelLoader:
    DISPLAY_NAME = "AudioGen Load Model"
    DESCRIPTION = (
        "Loads the Dasheng-AudioGen generator (flow-matching DiT, content adapter and "
        "duration predictor) from a snapshot folder in models/audiogen/."
    )
    CATEGORY = common.CATEGORY
    RETURN_TYPES = (common.MODEL,)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The generator, for Text Encode and Sampler.",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "model": _folder_input(
                    GENERATOR,
                    "Folder of the mispeech/Dasheng-AudioGen snapshot "
                    "(config.json + safetensors) in models/audiogen/.",
                ),
                **_common_inputs(),
            }
        }

    def load(self, model: str, device: str, precision: str) -> tuple[ManagedModel]:
        with common.user_errors(self.DISPLAY_NAME):
            folder = model_paths.resolve_snapshot(GENERATOR, model, self.DISPLAY_NAME)
            return (load_managed(load_generator, folder, device, precision, "unet"),)


class AudioGenTextEncoderLoader:
    DISPLAY_NAME = "AudioGen Load Text Encoder"
    DESCRIPTION = (
        "Loads the flan-t5-large text encoder and its tokenizer from a snapshot "
        "folder in models/audiogen/ or models/text_encoders/."
    )
    CATEGORY = common.CATEGORY
    RETURN_TYPES = (common.TEXT_ENCODER,)
    RETURN_NAMES = ("text_encoder",)
    OUTPUT_TOOLTIPS = ("The T5 text encoder, for Text Encode.",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "text_encoder": _folder_input(
                    TEXT_ENCODER,
                    "Folder of the google/flan-t5-large snapshot (config.json, "
                    "safetensors, tokenizer.json) in models/audiogen/ or "
                    "models/text_encoders/.",
                ),
                **_common_inputs(),
            }
        }

    def load(self, text_encoder: str, device: str, precision: str) -> tuple[ManagedModel]:
        with common.user_errors(self.DISPLAY_NAME):
            folder = model_paths.resolve_snapshot(TEXT_ENCODER, text_encoder, self.DISPLAY_NAME)
            return (
                load_managed(
                    load_text_encoder,
                    folder,
                    device,
                    precision,
                    "text_encoder",
                    module_of=lambda encoder: encoder.model,
                ),
            )


class AudioGenAudioTokenizerLoader:
    DISPLAY_NAME = "AudioGen Load Audio Tokenizer"
    DESCRIPTION = (
        "Loads DashengTokenizer, which turns latents into 16 kHz audio (and, with "
        "load_encoder, audio back into latents), from models/audiogen/."
    )
    CATEGORY = common.CATEGORY
    RETURN_TYPES = (common.AUDIO_TOKENIZER,)
    RETURN_NAMES = ("audio_tokenizer",)
    OUTPUT_TOOLTIPS = ("The audio tokenizer, for Decode (and Encode).",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "audio_tokenizer": _folder_input(
                    AUDIO_TOKENIZER,
                    "Folder of the mispeech/dashengtokenizer snapshot "
                    "(config.json + safetensors) in models/audiogen/.",
                ),
                **_common_inputs(),
                "load_encoder": (
                    "BOOLEAN",
                    {
                        "default": False,
                        "tooltip": "Also load the audio encoder (about 630 M parameters), "
                        "needed only by AudioGen Encode Audio. Text-to-audio only decodes.",
                    },
                ),
            }
        }

    def load(
        self, audio_tokenizer: str, device: str, precision: str, load_encoder: bool
    ) -> tuple[ManagedModel]:
        with common.user_errors(self.DISPLAY_NAME):
            folder = model_paths.resolve_snapshot(
                AUDIO_TOKENIZER, audio_tokenizer, self.DISPLAY_NAME
            )
            loader = partial(load_audio_tokenizer, include_encoder=load_encoder)
            return (load_managed(loader, folder, device, precision, "vae"),)


NODES = (AudioGenModelLoader, AudioGenTextEncoderLoader, AudioGenAudioTokenizerLoader)
