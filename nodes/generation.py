"""Text encode and latent sampler: tagged prompt -> conditioning -> latent audio."""

from __future__ import annotations

from audiogen_core import limits
from audiogen_core.limits import MAX_DURATION_S
from audiogen_core.pipeline import AudioGenPipeline, AudioLatent, Conditioning
from audiogen_core.prompt import token_report

from . import comfy_compat, common
from .managed import ManagedModel, ready


def _ui_text(text: str) -> dict:
    # ComfyUI forwards any ui payload to the page; web/audiogen.js shows "text" in the node.
    return {"text": [text]}


class AudioGenTextEncode:
    DISPLAY_NAME = "AudioGen Text Encode"
    DESCRIPTION = (
        "Encodes a tagged prompt with the T5 text encoder and the generator's content "
        "adapter, and predicts how long the scene should last (shown on the node and "
        "returned as predicted_seconds)."
    )
    CATEGORY = common.CATEGORY
    RETURN_TYPES = (common.CONDITIONING, "FLOAT")
    RETURN_NAMES = ("conditioning", "predicted_seconds")
    OUTPUT_TOOLTIPS = (
        "The encoded prompt, for the Sampler.",
        "The duration the model predicts for this prompt, in seconds.",
    )
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "text_encoder": (
                    common.TEXT_ENCODER,
                    {"tooltip": "From AudioGen Load Text Encoder."},
                ),
                "model": (
                    common.MODEL,
                    {
                        "tooltip": "From AudioGen Load Model (its content adapter "
                        "and duration head run here)."
                    },
                ),
                "prompt": (
                    common.PROMPT_OR_STRING,
                    {
                        "tooltip": "From AudioGen Caption Composer, or any STRING holding a tagged "
                        "prompt that starts with <|caption|>."
                    },
                ),
            }
        }

    def encode(self, text_encoder: ManagedModel, model: ManagedModel, prompt: str) -> dict:
        with common.user_errors(self.DISPLAY_NAME):
            ready(text_encoder, model)
            pipe = AudioGenPipeline(generator=model.component, text_encoder=text_encoder.component)
            cond = pipe.encode_prompt(prompt)
        seconds = float(cond.predicted_duration_s[0])
        tokens = token_report(cond.prompts[0], lambda _prompt: cond.token_counts[0])
        info = f"Predicted duration: {seconds:.2f} s\n{tokens.message}"
        return {"ui": _ui_text(info), "result": (cond, seconds)}


class AudioGenSampler:
    DISPLAY_NAME = "AudioGen Sampler"
    DESCRIPTION = (
        "Generates latent audio from the conditioning with the flow-matching sampler: "
        "seed, steps, guidance, sway, exact duration and a batch of variations "
        "(seed, seed+1, ...; each can be re-made alone from its own seed)."
    )
    CATEGORY = common.CATEGORY
    RETURN_TYPES = (common.LATENT,)
    RETURN_NAMES = ("latent",)
    OUTPUT_TOOLTIPS = ("Latent audio (25 frames per second), for AudioGen Decode.",)
    FUNCTION = "sample"

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "model": (common.MODEL, {"tooltip": "From AudioGen Load Model."}),
                "conditioning": (common.CONDITIONING, {"tooltip": "From AudioGen Text Encode."}),
                "seed": (
                    "INT",
                    {
                        "default": 0,
                        "min": 0,
                        "max": limits.SEED_MODULUS - 1,
                        "control_after_generate": True,
                        "tooltip": "Seed of the starting noise. The same seed and settings "
                        "give the same audio on every device.",
                    },
                ),
                "steps": (
                    "INT",
                    {
                        "default": 25,
                        "min": 1,
                        "max": limits.MAX_STEPS,
                        "tooltip": "Sampling steps (25 recommended; fewer is faster and rougher).",
                    },
                ),
                "guidance": (
                    "FLOAT",
                    {
                        "default": 5.0,
                        "min": limits.GUIDANCE_RANGE[0],
                        "max": limits.GUIDANCE_RANGE[1],
                        "step": 0.1,
                        "tooltip": "Classifier-free guidance: how closely to follow the "
                        "prompt (5.0 recommended; 1.0 or less turns it "
                        "off and runs twice as fast).",
                    },
                ),
                "sway": (
                    "FLOAT",
                    {
                        "default": -1.0,
                        "min": limits.SWAY_RANGE[0],
                        "max": limits.SWAY_RANGE[1],
                        "step": 0.05,
                        "tooltip": "Sway sampling: negative values spend more steps early "
                        "on the overall structure (-1.0 recommended, 0 = "
                        "uniform steps).",
                    },
                ),
                "duration_s": (
                    "FLOAT",
                    {
                        "default": 0.0,
                        "min": 0.0,
                        "max": MAX_DURATION_S,
                        "step": 0.01,
                        "tooltip": "Length in seconds. 0 = the length the model "
                        "predicts for the prompt; any other value is met "
                        "exactly: the audio has round(seconds x 16000) "
                        "samples (latent frames are 0.04 s).",
                    },
                ),
                "batch_size": (
                    "INT",
                    {
                        "default": 1,
                        "min": 1,
                        "max": limits.MAX_VARIATIONS,
                        "tooltip": "Variations to make in one run; item i uses seed + i.",
                    },
                ),
            }
        }

    def sample(
        self,
        model: ManagedModel,
        conditioning: Conditioning,
        seed: int,
        steps: int,
        guidance: float,
        sway: float,
        duration_s: float,
        batch_size: int,
    ) -> dict:
        bar = comfy_compat.progress_bar(steps)

        def on_step(step: int, total: int) -> None:
            bar.update_absolute(step, total)
            comfy_compat.throw_if_interrupted()

        with common.user_errors(self.DISPLAY_NAME):
            if duration_s < 0:
                raise ValueError(
                    f"duration_s is {duration_s}: use 0 for the predicted length "
                    f"or a length in seconds up to {MAX_DURATION_S:g}."
                )
            ready(model)
            pipe = AudioGenPipeline(generator=model.component)
            latent = pipe.sample(
                conditioning,
                seed=seed,
                steps=steps,
                guidance=guidance,
                sway=sway,
                duration_s=duration_s or None,
                variations=batch_size,
                callback=on_step,
            )
        return {"ui": _ui_text(_describe(latent)), "result": (latent,)}


def _describe(latent: AudioLatent) -> str:
    seeds = latent.seeds or []
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}..{seeds[-1]}"
    lengths = sorted(set(latent.durations_s))
    length_text = " / ".join(f"{s:.3f}" for s in lengths)
    return f"{latent.batch_size} x {length_text} s, {seed_text}"


NODES = (AudioGenTextEncode, AudioGenSampler)
