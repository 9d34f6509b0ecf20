"""Text encode and latent sampler: tagged prompt -> conditioning -> latent audio."""

from __future__ import annotations

from comfy_api.latest import io, ui

from audiogen_core.conditioning.blending import DEFAULT_TIME_MODE, TIME_MODES
from audiogen_core.conditioning.encoded import Conditioning
from audiogen_core.conditioning.prompt import token_report
from audiogen_core.pipeline import AudioGenPipeline
from audiogen_core.sampling.latent import AudioLatent
from audiogen_core.sampling.settings import SETTINGS

from . import comfy_compat, common
from .managed import ManagedModel, prompt_encoding_memory, ready, sampling_memory

ALIASES = ("text to audio", "sound effects", "foley", "tts", "speech", "music", "ambience")


class AudioGenTextEncode(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Text Encode"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenTextEncode",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Encodes a tagged prompt with the T5 text encoder and the generator's content "
                "adapter, and predicts how long the scene should last (shown on the node and "
                "returned as predicted_seconds).\n\n"
                "Connect conditioning to AudioGen Sampler (or to AudioGen Timed Prompt to add "
                "timed events).\n\n"
                "The node also reports how many of the text encoder's 512 tokens the prompt "
                "uses; a longer prompt is cut, so keep it inside the limit."
            ),
            inputs=[
                *common.encoding_inputs(),
                common.prompt_input(
                    "From AudioGen Caption Composer, or any STRING holding a tagged prompt "
                    "that starts with <|caption|>."
                ),
            ],
            outputs=[
                common.Conditioning.Output(
                    display_name="conditioning", tooltip="The encoded prompt, for the Sampler."
                ),
                io.Float.Output(
                    display_name="predicted_seconds",
                    tooltip="The duration the model predicts for this prompt, in seconds.",
                ),
            ],
            **common.search_aliases(*ALIASES, "audiogen encode", "prompt"),
        )

    @classmethod
    def execute(cls, text_encoder: ManagedModel, model: ManagedModel, prompt: str) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            needed = prompt_encoding_memory(text_encoder, model, prompt)
            ready(text_encoder.patcher, model.text_side, memory_required=needed)
            pipe = AudioGenPipeline(generator=model.component, text_encoder=text_encoder.component)
            cond = pipe.encode_prompt(prompt)
        seconds = float(cond.predicted_duration_s[0])
        tokens = token_report(cond.prompts[0], lambda _prompt: cond.token_counts[0])
        info = f"Predicted duration: {seconds:.2f} s\n{tokens.message}"
        return io.NodeOutput(cond, seconds, ui=ui.PreviewText(info))


class AudioGenSampler(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Sampler"

    @classmethod
    def define_schema(cls) -> io.Schema:
        # Not marked not_idempotent: a seed fully determines the result (the frontend's
        # control_after_generate draws a new seed per queue when the user asks for one).
        return io.Schema(
            node_id="AudioGenSampler",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Generates latent audio from the conditioning with the flow-matching sampler: "
                "seed, steps, guidance, sway, exact duration and a batch of variations "
                "(seed, seed+1, ...; each can be re-made alone from its own seed). With a "
                "latent it edits audio: a variation (denoise below 1), or only what Regenerate "
                "Range or Extend marked; long clips are made window by window.\n\n"
                "Connect latent to AudioGen Decode. Connect AudioGen Duration From Video to "
                "duration_s to end exactly with a picture.\n\n"
                "Cancel stops after the current step; the progress bar counts the steps of "
                "all windows. The node shows the length and seeds it made. A latent from a "
                "different model size, or a duration_s with a latent, is refused before "
                "sampling starts with an error that says what to change."
            ),
            inputs=[
                common.Model.Input("model", tooltip="From AudioGen Load Model."),
                common.Conditioning.Input("conditioning", tooltip="From AudioGen Text Encode."),
                io.Int.Input(
                    "seed",
                    default=SETTINGS.seed,
                    min=0,
                    max=SETTINGS.seed_modulus - 1,
                    control_after_generate=True,
                    tooltip="Seed of the starting noise. The same seed and settings give the "
                    "same audio on every device. Set control after generate to randomize for a "
                    "new take on every run.",
                ),
                io.Int.Input(
                    "steps",
                    default=SETTINGS.steps,
                    min=SETTINGS.steps_range[0],
                    max=SETTINGS.steps_range[1],
                    tooltip=f"Sampling steps ({SETTINGS.steps} recommended; fewer is faster and "
                    "rougher).",
                ),
                io.Float.Input(
                    "guidance",
                    default=SETTINGS.guidance,
                    min=SETTINGS.guidance_range[0],
                    max=SETTINGS.guidance_range[1],
                    step=0.1,
                    tooltip="Classifier-free guidance (ComfyUI's cfg): how closely to follow "
                    f"the prompt ({SETTINGS.guidance:.1f} recommended; 1.0 or less turns it off "
                    "and runs twice as fast).",
                ),
                io.Float.Input(
                    "sway",
                    default=SETTINGS.sway,
                    min=SETTINGS.sway_range[0],
                    max=SETTINGS.sway_range[1],
                    step=0.05,
                    tooltip="Sway sampling: negative values spend more steps early on the "
                    f"overall structure ({SETTINGS.sway:.1f} recommended, 0 = uniform steps).",
                ),
                io.Float.Input(
                    "duration_s",
                    default=0.0,
                    min=0.0,
                    max=SETTINGS.max_duration_s,
                    step=0.01,
                    tooltip="Length in seconds. 0 = the length the model predicts for the "
                    "prompt; any other value is met exactly: the audio has round(seconds x "
                    "16000) samples (latent frames are 0.04 s).",
                ),
                io.Int.Input(
                    "batch_size",
                    default=SETTINGS.variations,
                    min=SETTINGS.variations_range[0],
                    max=SETTINGS.variations_range[1],
                    tooltip="Variations to make in one run; item i uses seed + i, so any one "
                    "of them can be re-made alone from its own seed.",
                ),
                # Added after 0.1.0: optional and after every older widget, so graphs saved
                # before them keep their widget values (stored by position) and run unchanged.
                common.Latent.Input(
                    "latent",
                    optional=True,
                    tooltip="Audio to start from instead of silence: AudioGen Encode Audio "
                    "(with denoise below 1 for a variation), Regenerate Range or Extend. The "
                    "result has its length (leave duration_s at 0).",
                ),
                io.Float.Input(
                    "denoise",
                    default=SETTINGS.denoise,
                    min=0.01,
                    max=1.0,
                    step=0.01,
                    optional=True,
                    tooltip="How much of the latent to redo, as in KSampler: 1.0 = all new "
                    "(needed for Regenerate Range and Extend), 0.6 = a variation that keeps "
                    "the latent's overall shape and timing and changes its details. Below 1 "
                    "needs a latent.",
                ),
                io.Float.Input(
                    "window_s",
                    default=SETTINGS.window_s,
                    min=0.0,
                    max=SETTINGS.max_duration_s,
                    step=0.5,
                    optional=True,
                    tooltip="Clips longer than this are made window by window, each continuing "
                    "the previous one, so memory follows the window, not the length. 0 = "
                    "always one pass.",
                ),
                io.Float.Input(
                    "overlap_s",
                    default=SETTINGS.overlap_s,
                    min=0.0,
                    max=SETTINGS.max_duration_s,
                    step=0.5,
                    optional=True,
                    tooltip="Seconds of the previous window each window continues from; must "
                    "be shorter than window_s.",
                ),
                io.Combo.Input(
                    "time_mode",
                    options=list(TIME_MODES),
                    default=DEFAULT_TIME_MODE,
                    optional=True,
                    tooltip="How timed prompts (AudioGen Timed Prompt) are heard. blend: each "
                    "one's sound is blended in over its range (one extra DiT evaluation per "
                    "timed prompt per step). aligned: the model's time-aligned path lays each "
                    "one's words over its range (no fades or strengths; without timed prompts "
                    "the words follow the model's own timing). Not with a latent. Nobody has "
                    "yet compared the two by ear with the official weights.",
                ),
            ],
            outputs=[
                common.Latent.Output(
                    display_name="latent",
                    tooltip="Latent audio (25 frames per second), for AudioGen Decode.",
                )
            ],
            **common.search_aliases(*ALIASES, "audiogen sampler", "ksampler"),
        )

    @classmethod
    def execute(
        cls,
        model: ManagedModel,
        conditioning: Conditioning,
        seed: int,
        steps: int,
        guidance: float,
        sway: float,
        duration_s: float,
        batch_size: int,
        latent: AudioLatent | None = None,
        denoise: float = SETTINGS.denoise,
        window_s: float = SETTINGS.window_s,
        overlap_s: float = SETTINGS.overlap_s,
        time_mode: str = DEFAULT_TIME_MODE,
    ) -> io.NodeOutput:
        bar = comfy_compat.progress_bar(steps)

        def on_step(step: int, total: int) -> None:
            if bar is not None:
                bar.update_absolute(step, total)
            comfy_compat.throw_if_interrupted()

        with common.user_errors(cls.DISPLAY_NAME):
            if duration_s < 0:
                raise ValueError(
                    f"duration_s is {duration_s}: use 0 for the predicted length "
                    f"or a length in seconds up to {SETTINGS.max_duration_s:g}."
                )
            if latent is not None and duration_s:
                raise ValueError(
                    f"duration_s is {duration_s:g} s but a latent is connected, and the result "
                    f"has the latent's length ({_seconds_of(latent)}): set duration_s to 0, or "
                    "make the clip longer with AudioGen Extend."
                )
            if latent is not None and time_mode == "aligned":
                raise ValueError(
                    "time_mode aligned does not go with a latent: the aligned layout sets the "
                    "clip's length. Edit with timed prompts in the blend mode."
                )
            if window_s < 0:
                raise ValueError(
                    f"window_s is {window_s:g}: use 0 for one pass or a window in seconds."
                )
            # With a latent the result has its length; without one, duration_s or the prediction.
            seconds = latent.latent.shape[-1] / latent.frame_rate if latent is not None else None
            needed = sampling_memory(
                model, conditioning, seconds or duration_s, batch_size, guidance, window_s or None
            )
            ready(model.patcher, memory_required=needed)
            pipe = AudioGenPipeline(generator=model.component)
            conditioning = pipe.apply_time_mode(conditioning, time_mode, duration_s or None)
            result = pipe.sample(
                conditioning,
                seed=seed,
                steps=steps,
                guidance=guidance,
                sway=sway,
                duration_s=duration_s or None,
                variations=batch_size,
                callback=on_step,
                init=latent,
                denoise=denoise,
                window_s=window_s or None,
                overlap_s=overlap_s,
            )
        return io.NodeOutput(result, ui=ui.PreviewText(_describe(result)))


def _seconds_of(latent: AudioLatent) -> str:
    return " / ".join(f"{s:.3f}" for s in sorted(set(latent.durations_s))) + " s"


def _describe(latent: AudioLatent) -> str:
    seeds = latent.seeds or []
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}..{seeds[-1]}"
    return f"{latent.batch_size} x {_seconds_of(latent)}, {seed_text}"


NODES = (AudioGenTextEncode, AudioGenSampler)
