"""Nodes that open the generator to ComfyUI's own sampling nodes.

AudioGen Model (native) -> MODEL; AudioGen Conditioning (native) -> positive, negative and an
empty LATENT; AudioGen Sway Scheduler -> SIGMAS; AudioGen Noise -> NOISE; and converters
between the pack's latent and ComfyUI's LATENT. With SamplerCustomAdvanced + CFGGuider +
KSamplerSelect euler they reproduce the AudioGen Sampler; every other sampler, scheduler,
guider and model patch of ComfyUI applies as well.
"""

from __future__ import annotations

from comfy_api.latest import io

from audiogen_core.conditioning.blending import DEFAULT_TIME_MODE, TIME_MODES
from audiogen_core.conditioning.encoded import Conditioning
from audiogen_core.conditioning.timegrid import TimeGrid
from audiogen_core.sampling.latent import AudioLatent
from audiogen_core.sampling.settings import SETTINGS

from .. import common
from ..managed import ManagedModel
from . import latents
from .conditioning import native_inputs
from .sampling import AudioGenNoiseSource, sway_sigmas

ALIASES = ("audiogen", "native", "samplercustomadvanced", "ksampler")
# The official latent grid, for a LATENT that does not say which grid it is on (AudioGen
# Decode refuses a latent whose grid is not its tokenizer's).
OFFICIAL_GRID = TimeGrid(frame_rate=25, sample_rate=16000)


class AudioGenNativeModel(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Model (native)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenNativeModel",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "The loaded AudioGen generator as a ComfyUI MODEL, so ComfyUI's own sampling "
                "nodes drive it: KSampler, SamplerCustomAdvanced with any sampler, scheduler or "
                "guider, and model patches such as EasyCache, LazyCache, APG, CFGZero*, "
                "ModelSamplingSD3 or TorchCompileModel. It shares the DiT with the AudioGen "
                "Sampler: ComfyUI keeps one copy in memory whichever of the two runs.\n\n"
                "Connect MODEL to a guider (CFGGuider), KSampler or a model patch; make its "
                "positive, negative and latent with AudioGen Conditioning (native).\n\n"
                "Good to know: the AudioGen Sampler stays the faithful default. "
                "SamplerCustomAdvanced with AudioGen Noise, CFGGuider (cfg 5), KSamplerSelect "
                "euler and AudioGen Sway Scheduler (25, -1, 1.0) gives the same latent as the "
                "Sampler with the same seed. ComfyUI skips the negative only at cfg exactly "
                "1.0; the Sampler turns guidance off for any value up to 1.0. ComfyUI samples "
                "one pass; the Sampler makes clips over 20 s window by window. Convert the "
                "result with AudioGen LATENT to Latent before AudioGen Decode."
            ),
            inputs=[common.Model.Input("model", tooltip="From AudioGen Load Model.")],
            outputs=[
                io.Model.Output(
                    display_name="MODEL",
                    tooltip="For ComfyUI's samplers; use AudioGen Conditioning (native) for its "
                    "positive, negative and latent.",
                )
            ],
            **common.search_aliases(*ALIASES, "model"),
        )

    @classmethod
    def execute(cls, model: ManagedModel) -> io.NodeOutput:
        from . import unavailable_reason

        with common.user_errors(cls.DISPLAY_NAME):
            patcher = model.patcher
            if patcher is None:
                raise ValueError("a MODEL exists only inside ComfyUI")
            from .model import AudioGenBaseModel

            if not isinstance(patcher.model, AudioGenBaseModel):
                raise ValueError(
                    "this ComfyUI cannot drive the generator with its own samplers "
                    f"({unavailable_reason or 'the model was loaded without it'}); use the "
                    "AudioGen Sampler"
                )
        return io.NodeOutput(patcher.clone())


class AudioGenNativeConditioning(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Conditioning (native)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenNativeConditioning",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Turns AudioGen conditioning into ComfyUI's positive and negative "
                "CONDITIONING and an empty LATENT of the right length, laid out exactly as the "
                "AudioGen Sampler lays out its items (duration, batch, time mode, timed "
                "prompts as masked areas along time).\n\n"
                "Connect positive and negative to a guider (CFGGuider) or KSampler, latent to "
                "their latent input.\n\n"
                "Good to know: the latent is (batch, channels, frames) at 25 frames per second; "
                "ComfyUI's EmptyLatentAudio makes Stable Audio latents, which do not fit this "
                "model. ConditioningZeroOut on positive is not the model's unconditional input "
                "(it keeps the time-aligned content): use the negative output. A time-aligned "
                "layout is made for its length: sampling it on a latent of another length is "
                "an error."
            ),
            inputs=[
                common.Model.Input("model", tooltip="From AudioGen Load Model."),
                common.Conditioning.Input("conditioning", tooltip="From AudioGen Text Encode."),
                io.Float.Input(
                    "duration_s",
                    default=0.0,
                    min=0.0,
                    max=SETTINGS.max_duration_s,
                    step=0.01,
                    tooltip="Length in seconds; 0 = the length the model predicts.",
                ),
                io.Int.Input(
                    "batch_size",
                    default=SETTINGS.variations,
                    min=SETTINGS.variations_range[0],
                    max=SETTINGS.variations_range[1],
                    tooltip="Variations of each prompt; with AudioGen Noise item i uses "
                    "seed + i, as in the AudioGen Sampler.",
                ),
                io.Combo.Input(
                    "time_mode",
                    options=list(TIME_MODES),
                    default=DEFAULT_TIME_MODE,
                    tooltip="blend: timed prompts become masked conditioning along time. "
                    "aligned: the model's time-aligned path (see the AudioGen Sampler).",
                ),
                common.Conditioning.Input(
                    "negative_conditioning",
                    optional=True,
                    tooltip="A negative prompt from AudioGen Text Encode. Without it the "
                    "negative is the model's own unconditional input (as the AudioGen "
                    "Sampler guides).",
                ),
            ],
            outputs=[
                io.Conditioning.Output(
                    display_name="positive", tooltip="For a guider's or KSampler's positive."
                ),
                io.Conditioning.Output(
                    display_name="negative", tooltip="For a guider's or KSampler's negative."
                ),
                io.Latent.Output(
                    display_name="latent",
                    tooltip="An empty latent of the right length and batch (25 frames/s).",
                ),
            ],
            **common.search_aliases(*ALIASES, "conditioning", "empty latent audio"),
        )

    @classmethod
    def execute(
        cls,
        model: ManagedModel,
        conditioning: Conditioning,
        duration_s: float,
        batch_size: int,
        time_mode: str,
        negative_conditioning: Conditioning | None = None,
    ) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            if duration_s < 0:
                raise ValueError(f"duration_s is {duration_s}: use 0 for the predicted length")
            built = native_inputs(
                model.component,
                conditioning,
                duration_s or None,
                batch_size,
                time_mode,
                negative_conditioning,
            )
        return io.NodeOutput(built.positive, built.negative, built.latent)


class AudioGenSwayScheduler(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Sway Scheduler"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenSwayScheduler",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "The official sway-sampling schedule as SIGMAS for SamplerCustomAdvanced: the "
                "noise levels the AudioGen Sampler integrates over, from 1 to 0.\n\n"
                "Connect SIGMAS to SamplerCustomAdvanced's sigmas.\n\n"
                "Good to know: the official schedule ends with a zero-size step; it is left out "
                "(ComfyUI's samplers would divide by zero on it; the Sampler skips it too). "
                "Other schedulers work too (BasicScheduler's simple, beta, ...), with dpmpp_2m "
                "or res_multistep often fine at fewer steps: see docs/native-sampling.md."
            ),
            inputs=[
                io.Int.Input(
                    "steps",
                    default=SETTINGS.steps,
                    min=SETTINGS.steps_range[0],
                    max=SETTINGS.steps_range[1],
                    tooltip="Sampling steps (25 recommended).",
                ),
                io.Float.Input(
                    "sway",
                    default=SETTINGS.sway,
                    min=SETTINGS.sway_range[0],
                    max=SETTINGS.sway_range[1],
                    step=0.05,
                    tooltip="Sway sampling coefficient (-1.0 recommended, 0 = uniform steps).",
                ),
                io.Float.Input(
                    "denoise",
                    default=SETTINGS.denoise,
                    min=0.01,
                    max=1.0,
                    step=0.01,
                    tooltip="Below 1: the last steps of round(steps / denoise), as the AudioGen "
                    "Sampler does for a variation of a latent.",
                ),
            ],
            outputs=[io.Sigmas.Output(display_name="SIGMAS", tooltip="Noise levels 1 -> 0.")],
            **common.search_aliases(*ALIASES, "scheduler", "sigmas"),
        )

    @classmethod
    def execute(cls, steps: int, sway: float, denoise: float) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            sigmas = sway_sigmas(steps, sway, denoise)
        return io.NodeOutput(sigmas)


class AudioGenNoise(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Noise"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenNoise",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "The AudioGen Sampler's starting noise as a NOISE for SamplerCustomAdvanced: "
                "batch item i gets the noise of seed + i, drawn on the CPU, so every item "
                "equals the Sampler's item i and can be re-made alone.\n\n"
                "Connect NOISE to SamplerCustomAdvanced's noise.\n\n"
                "Good to know: ComfyUI's RandomNoise draws the whole batch from one generator, "
                "so its item 0 matches nothing of the Sampler's and its items depend on the "
                "batch size. A latent picked from a batch (Latent From Batch) keeps its item's "
                "seed."
            ),
            inputs=[
                io.Int.Input(
                    "seed",
                    default=SETTINGS.seed,
                    min=0,
                    max=SETTINGS.seed_modulus - 1,
                    control_after_generate=True,
                    tooltip="Seed of item 0; item i uses seed + i.",
                )
            ],
            outputs=[io.Noise.Output(display_name="NOISE", tooltip="For SamplerCustomAdvanced.")],
            **common.search_aliases(*ALIASES, "random noise", "seed"),
        )

    @classmethod
    def execute(cls, seed: int) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            noise = AudioGenNoiseSource(seed)
        return io.NodeOutput(noise)


class AudioGenLatentToComfy(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Latent to LATENT"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenLatentToComfy",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "An AudioGen latent (Encode Audio, Sampler, Regenerate Range, Extend) as "
                "ComfyUI's LATENT, for latent_image of SamplerCustomAdvanced or KSampler, "
                "LatentConcat, LatentCut and other latent nodes. A noise mask comes along as "
                "ComfyUI's noise_mask (1 = regenerate, 0 = keep), so ComfyUI's samplers "
                "regenerate only the marked frames.\n\n"
                "Connect LATENT to a sampler's latent input (with a denoise below 1, or a noise "
                "mask, to edit the clip) or to a latent node."
            ),
            inputs=[
                common.Latent.Input(
                    "latent", tooltip="From AudioGen Encode Audio, the Sampler or an edit node."
                )
            ],
            outputs=[io.Latent.Output(display_name="LATENT", tooltip="The same frames.")],
            **common.search_aliases(*ALIASES, "convert latent"),
        )

    @classmethod
    def execute(cls, latent: AudioLatent) -> io.NodeOutput:
        return io.NodeOutput(latents.to_comfy(latent))


class AudioGenLatentFromComfy(io.ComfyNode):
    DISPLAY_NAME = "AudioGen LATENT to Latent"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenLatentFromComfy",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "A LATENT from any ComfyUI sampler or latent node as an AudioGen latent, for "
                "AudioGen Decode and the pack's edit nodes. Each item keeps its exact length "
                "(a set duration) while the latent has the frames and batch it was made with; "
                "after LatentConcat or LatentCut every item decodes to its whole length.\n\n"
                "Connect latent to AudioGen Decode."
            ),
            inputs=[io.Latent.Input("latent", tooltip="From SamplerCustomAdvanced, KSampler...")],
            outputs=[
                common.Latent.Output(
                    display_name="latent", tooltip="For AudioGen Decode (25 frames per second)."
                )
            ],
            **common.search_aliases(*ALIASES, "convert latent"),
        )

    @classmethod
    def execute(cls, latent: dict) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            converted = latents.from_comfy(latent, OFFICIAL_GRID)
        return io.NodeOutput(converted)


NODES = (
    AudioGenNativeModel,
    AudioGenNativeConditioning,
    AudioGenSwayScheduler,
    AudioGenNoise,
    AudioGenLatentToComfy,
    AudioGenLatentFromComfy,
)
