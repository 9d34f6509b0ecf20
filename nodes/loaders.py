"""Loader nodes: the generator, the text encoder and the audio tokenizer snapshot folders."""

from __future__ import annotations

from functools import partial

from comfy_api.latest import io

from audiogen_core.checkpoints import (
    AUDIO_TOKENIZER,
    GENERATOR,
    TEXT_ENCODER,
    SnapshotKind,
    load_audio_tokenizer,
    load_generator,
    load_text_encoder,
)
from audiogen_core.models.ops import WEIGHT_DTYPE_CHOICES
from audiogen_core.runtime.devices import DEVICE_CHOICES, DTYPE_CHOICES
from audiogen_core.sampling.settings import SETTINGS

from . import common, model_paths
from .managed import load_managed, load_managed_generator

DEVICE_TOOLTIP = (
    "Where the model computes. auto: ComfyUI's GPU when there is one (the model "
    "is moved off it when other models need the memory), else the CPU."
)
PRECISION_TOOLTIP = (
    "Weight precision. auto: bf16 on GPUs that support it (fp16 otherwise); on the CPU "
    "bf16 where it computes bf16 natively (AMX or AVX512-BF16), else fp32. fp32 is the "
    "reference; bf16/fp16 weights take half the memory of fp32."
)
ALIASES = ("audiogen", "dasheng", "text to audio", "load audio model")
# Full-size weight memory per option in bf16 precision (benchmarks/RESULTS.md, "Weight storage
# dtypes"); in fp32 precision "default" doubles.
WEIGHT_MEMORY = {
    "AudioGenModelLoader": "default, bf16, fp16 4.07 GiB; fp8 2.04 (fp32 precision, default: 8.14)",
    "AudioGenTextEncoderLoader": "default, bf16, fp16 0.64 GiB; fp8 0.35 (fp32 precision, "
    "default: 1.27)",
    "AudioGenAudioTokenizerLoader": "decoder: default, bf16, fp16 0.32 GiB; fp8 0.16 (fp32 "
    "precision, default: 0.65)",
}


def _folder_input(name: str, kind: SnapshotKind, tooltip: str) -> io.Combo.Input:
    return io.Combo.Input(
        name, options=model_paths.list_snapshots(kind), default=kind.folder_name, tooltip=tooltip
    )


def _weight_dtype_input(node_id: str) -> io.Combo.Input:
    """The storage dtype of the matrix weights, apart from the compute precision.

    Optional with a default, so a graph or API prompt saved before the option existed runs
    unchanged (the frontend gives the missing trailing widget its default).
    """
    return io.Combo.Input(
        "weight_dtype",
        options=list(WEIGHT_DTYPE_CHOICES),
        default=SETTINGS.weight_dtype,
        optional=True,
        tooltip="How the Linear and convolution weights are stored; they are cast to the "
        "precision above as each layer runs. default: in the precision itself. fp8 halves "
        "bf16's memory at a small loss of accuracy (fp8_e4m3fn is the closer of the two; "
        "fp8_e5m2 loses about twice as much); on the CPU it saves memory but is slower. "
        f"Weight memory at full size in bf16 precision: {WEIGHT_MEMORY[node_id]}.",
    )


def _compute_inputs() -> list[io.Input]:
    """The device and precision widgets every loader shares.

    Widgets added later go after these (and after a loader's own ones): a saved graph stores
    widget values by position, so appending keeps old graphs loading with their values.
    """
    return [
        io.Combo.Input(
            "device", options=list(DEVICE_CHOICES), default="auto", tooltip=DEVICE_TOOLTIP
        ),
        io.Combo.Input(
            "precision", options=list(DTYPE_CHOICES), default="auto", tooltip=PRECISION_TOOLTIP
        ),
    ]


class AudioGenModelLoader(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Load Model"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenModelLoader",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Loads the Dasheng-AudioGen generator (flow-matching DiT, content adapter and "
                "duration predictor) from a snapshot folder in models/audiogen/: the English "
                "checkpoint or Dasheng-AudioGen-Multilingual.\n\n"
                "Connect model to AudioGen Text Encode and AudioGen Sampler; one loader can "
                "feed several of them, and nothing is loaded twice.\n\n"
                "Text Encode uses only the generator's small text side (about 12 M "
                "parameters); the DiT moves to the GPU only when the Sampler runs. On a GPU too "
                "small for the weights, ComfyUI keeps part of the DiT in system memory and "
                "streams it in layer by layer while sampling (slower, but it runs)."
            ),
            inputs=[
                _folder_input(
                    "model",
                    GENERATOR,
                    "Folder of the mispeech/Dasheng-AudioGen (or -Multilingual) snapshot "
                    "(config.json + safetensors) in models/audiogen/, or audiogen.cpp's "
                    "dit.gguf / dit_Q8_0.gguf / dit_Q4_0.gguf (quantized weights stay "
                    "quantized in memory). Folders are recognised by their config.json, so a "
                    "renamed copy or a fine-tune shows up too.",
                ),
                *_compute_inputs(),
                _weight_dtype_input("AudioGenModelLoader"),
            ],
            outputs=[
                common.Model.Output(
                    display_name="model", tooltip="The generator, for Text Encode and Sampler."
                )
            ],
            **common.search_aliases(*ALIASES),
        )

    @classmethod
    def execute(
        cls, model: str, device: str, precision: str, weight_dtype: str = SETTINGS.weight_dtype
    ) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            folder = model_paths.resolve_snapshot(GENERATOR, model)
            managed = load_managed_generator(
                load_generator, folder, device, precision, weight_dtype
            )
            return io.NodeOutput(managed)


class AudioGenTextEncoderLoader(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Load Text Encoder"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenTextEncoderLoader",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Loads the T5 text encoder and its tokenizer from a snapshot folder in "
                "models/audiogen/ or models/text_encoders/: flan-t5-large for Dasheng-AudioGen, "
                "mt5-large for Dasheng-AudioGen-Multilingual (a mismatched pair is refused).\n\n"
                "Connect text_encoder to AudioGen Text Encode (and Timed Prompt, Timeline From "
                "Text). Only the encoder half of the checkpoint is loaded."
            ),
            inputs=[
                _folder_input(
                    "text_encoder",
                    TEXT_ENCODER,
                    "Folder of the google/flan-t5-large snapshot (config.json, "
                    "safetensors, tokenizer.json), or of google/mt5-large for the multilingual "
                    "model, in models/audiogen/ or models/text_encoders/; or audiogen.cpp's "
                    "t5_encoder.gguf (with its spiece.model beside it).",
                ),
                *_compute_inputs(),
                _weight_dtype_input("AudioGenTextEncoderLoader"),
            ],
            outputs=[
                common.TextEncoder.Output(
                    display_name="text_encoder", tooltip="The T5 text encoder, for Text Encode."
                )
            ],
            **common.search_aliases(*ALIASES, "t5"),
        )

    @classmethod
    def execute(
        cls,
        text_encoder: str,
        device: str,
        precision: str,
        weight_dtype: str = SETTINGS.weight_dtype,
    ) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            folder = model_paths.resolve_snapshot(TEXT_ENCODER, text_encoder)
            managed = load_managed(
                load_text_encoder,
                folder,
                device,
                precision,
                weight_dtype,
                "text_encoder",
                module_of=lambda encoder: encoder.model,
            )
            return io.NodeOutput(managed)


class AudioGenAudioTokenizerLoader(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Load Audio Tokenizer"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenAudioTokenizerLoader",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Loads DashengTokenizer, which turns latents into 16 kHz audio (and, with "
                "load_encoder, audio back into latents), from models/audiogen/.\n\n"
                "Connect audio_tokenizer to AudioGen Decode (and AudioGen Encode Audio)."
            ),
            inputs=[
                _folder_input(
                    "audio_tokenizer",
                    AUDIO_TOKENIZER,
                    "Folder of the mispeech/dashengtokenizer snapshot "
                    "(config.json + safetensors) in models/audiogen/, or audiogen.cpp's "
                    "vocoder.gguf (decoding only: it has no audio encoder).",
                ),
                *_compute_inputs(),
                io.Boolean.Input(
                    "load_encoder",
                    default=False,
                    tooltip="Also load the audio encoder (about 630 M parameters), "
                    "needed only by AudioGen Encode Audio. Text-to-audio only decodes.",
                ),
                _weight_dtype_input("AudioGenAudioTokenizerLoader"),
            ],
            outputs=[
                common.AudioTokenizer.Output(
                    display_name="audio_tokenizer",
                    tooltip="The audio tokenizer, for Decode (and Encode).",
                )
            ],
            **common.search_aliases(*ALIASES, "vae", "vocoder", "audio decoder"),
        )

    @classmethod
    def execute(
        cls,
        audio_tokenizer: str,
        device: str,
        precision: str,
        load_encoder: bool,
        weight_dtype: str = SETTINGS.weight_dtype,
    ) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            folder = model_paths.resolve_snapshot(AUDIO_TOKENIZER, audio_tokenizer)
            loader = partial(load_audio_tokenizer, include_encoder=load_encoder)
            managed = load_managed(loader, folder, device, precision, weight_dtype, "vae")
            return io.NodeOutput(managed)


NODES = (AudioGenModelLoader, AudioGenTextEncoderLoader, AudioGenAudioTokenizerLoader)
