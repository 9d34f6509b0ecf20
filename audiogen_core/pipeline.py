"""AudioGenPipeline: prompt -> conditioning -> latent -> 16 kHz waveform, one stage at a time.

The pipeline only orchestrates components it is given (generator, text encoder, audio
tokenizer); each stage needs only its own parts, so the ComfyUI nodes can call them
separately and ``generate()`` simply chains them.

Reproducibility: the initial noise of batch item ``j`` is drawn on the CPU from its own
generator seeded with ``seed + j`` and then moved to the model's device, so a seed gives the
same audio on CPU, CUDA and MPS, and any variation of a batch can be re-made alone.
(The reference draws from the global RNG of the device, so its streams differ per device.)
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .conditioning.blending import DEFAULT_TIME_MODE, blend_weights, check_time_mode, event_weights
from .conditioning.prompt import TOKEN_LIMIT, token_report, validate_prompt
from .conditioning.timeline import Timeline, TimelineError, TimelineEvent, event_frames
from .media.resampling import check_sample_rate, resample
from .models.generator import (
    GeneratorConditioning,
    TimedPrompts,
    concat_conditionings,
    layout_message,
)
from .runtime.devices import resolve_device, resolve_dtype
from .sampling.schedules import denoise_schedule, evaluated_steps
from .sampling.settings import SETTINGS
from .sampling.timegrid import TimeGrid
from .sampling.windows import (
    Window,
    context_mask,
    plan_windows,
    window_frames,
)

logger = logging.getLogger(__name__)

# Latents up to 30 s decode in one pass; longer ones in 30 s pieces (see decode).
DECODE_CHUNK_FRAMES = 750
StepCallback = Callable[[int, int], None]


class NonFiniteAudioError(ValueError):
    """A stage produced NaN or infinite values; nothing built from them may be kept."""


@dataclass(frozen=True)
class TimedPrompt:
    """A prompt held over a time range (blend time mode): the event and its own encoding."""

    event: TimelineEvent
    tensors: GeneratorConditioning  # one row, encoded alone, on the CPU
    token_count: int


@dataclass
class Conditioning:
    """Encoded prompts: what the sampler needs, plus what a front end wants to show.

    ``timed`` prompts (``add_timed_prompts``) are blended into every item over their time
    ranges at sampling time (``blending.py``), the items' own prompts filling the rest.
    """

    prompts: list[str]
    tensors: GeneratorConditioning  # kept on the CPU between stages
    token_counts: list[int]
    frame_rate: int
    timed: tuple[TimedPrompt, ...] = ()

    @property
    def batch_size(self) -> int:
        return len(self.prompts)

    @property
    def predicted_frames(self) -> list[int]:
        return [int(n) for n in self.tensors.latent_lengths.tolist()]

    @property
    def predicted_duration_s(self) -> list[float]:
        return [n / self.frame_rate for n in self.predicted_frames]


@dataclass
class TextStates:
    """The text encoder's output for some prompts (what the generator conditions on)."""

    prompts: list[str]
    hidden: torch.Tensor  # (B, tokens, d_model), on the text encoder's device
    mask: torch.Tensor  # (B, tokens) bool
    token_counts: list[int]


@dataclass
class AudioLatent:
    """Latent audio, channels-first (B, latent_dim, T) float32 on the CPU.

    ``lengths`` counts the valid frames of each item and ``num_samples`` the exact number of
    waveform samples each item decodes to (a user duration need not be a whole frame).
    ``noise_mask`` (B or 1, T) float32, if set, says which frames ``sample(init=...)``
    regenerates: 1 = regenerate, 0 = keep, soft values blend (see ``editing.py``).
    """

    latent: torch.Tensor
    lengths: torch.Tensor
    num_samples: list[int]
    frame_rate: int
    sample_rate: int
    seeds: list[int] | None = None
    noise_mask: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.latent.shape[0])

    @property
    def durations_s(self) -> list[float]:
        return [n / self.sample_rate for n in self.num_samples]


@dataclass
class GeneratedAudio:
    waveform: torch.Tensor  # (B, 1, N) float32 CPU
    sample_rate: int
    num_samples: list[int]
    seeds: list[int]
    prompts: list[str]


def frames_for_duration(duration_s: float, frame_rate: int) -> int:
    """Latent frames for a user duration: round(duration_s * frame_rate), validated."""
    duration_s = SETTINGS.check_duration(duration_s, "duration_s")
    if duration_s is None:
        raise TypeError("duration_s must be a number of seconds, got None")
    frames = round(duration_s * frame_rate)
    if frames < 1:
        raise ValueError(
            f"duration {duration_s} s is shorter than one latent frame ({1 / frame_rate:g} s): "
            f"use at least {1 / frame_rate:g} s, or leave it unset for the predicted length"
        )
    return frames


def resolve_seed(seed: int | None) -> int:
    """A checked seed; ``None`` or -1 draws a fresh random one (reported back to the caller)."""
    checked = SETTINGS.check_seed(seed, "seed")
    return random.randrange(SETTINGS.seed_modulus) if checked is None else checked


def item_seeds(seed: int | Sequence[int] | None, batch: int) -> list[int]:
    """Seeds of a batch's items: ``seed + j`` for item ``j``, or one given seed per item.

    Per-item seeds let a batch runner put items of different jobs into one sampler call while
    each keeps the noise it would get alone.
    """
    if isinstance(seed, Sequence):
        if len(seed) != batch:
            raise ValueError(f"got {len(seed)} seeds for a batch of {batch} items")
        return [resolve_seed(s) for s in seed]
    base_seed = resolve_seed(seed)
    return [(base_seed + j) % SETTINGS.seed_modulus for j in range(batch)]


def seeded_noise(seeds: Sequence[int], channels: int, frames: int) -> torch.Tensor:
    """Standard normal noise (B, channels, frames), item j drawn from its own CPU generator."""
    rows = []
    for seed in seeds:
        generator = torch.Generator(device="cpu").manual_seed(seed)
        rows.append(torch.randn((channels, frames), generator=generator, dtype=torch.float32))
    return torch.stack(rows)


def _as_prompt_list(prompts: str | Sequence[str]) -> list[str]:
    if isinstance(prompts, str):
        items = [prompts]
    elif isinstance(prompts, Sequence):
        items = list(prompts)
    else:
        raise TypeError(
            f"prompts must be a tagged prompt string or a list of them, got "
            f"{type(prompts).__name__}"
        )
    if not items:
        raise ValueError("no prompt given: pass at least one tagged prompt string")
    return [validate_prompt(p) for p in items]


class AudioGenPipeline:
    """Text-to-audio with Dasheng-AudioGen. Every stage is usable on its own."""

    def __init__(self, generator=None, text_encoder=None, audio_tokenizer=None):
        self.generator = generator
        self.text_encoder = text_encoder
        self.audio_tokenizer = audio_tokenizer

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        generator_dir: Path | str,
        text_encoder_dir: Path | str,
        audio_tokenizer_dir: Path | str,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        include_audio_encoder: bool = False,
    ) -> AudioGenPipeline:
        """Load the three official snapshot folders onto one device in one precision.

        The folders are checked first (configs, weight files, that the generator's latent is
        the one the audio tokenizer decodes, and that the text encoder is the one the generator
        was trained with), so nothing is loaded for a bad combination.
        """
        from .checkpoints import (
            AUDIO_TOKENIZER,
            GENERATOR,
            check_folder_pairing,
            check_rates_agree,
            check_snapshot,
            load_audio_tokenizer,
            load_generator,
            load_text_encoder,
            read_config,
            text_encoder_kind,
        )

        check_folder_pairing(generator_dir, text_encoder_dir)
        check_snapshot(generator_dir, GENERATOR)
        check_snapshot(text_encoder_dir, text_encoder_kind(Path(text_encoder_dir)))
        check_snapshot(audio_tokenizer_dir, AUDIO_TOKENIZER)
        check_rates_agree(
            read_config(generator_dir, GENERATOR), read_config(audio_tokenizer_dir, AUDIO_TOKENIZER)
        )
        torch_device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, torch_device)
        return cls(
            generator=load_generator(generator_dir, torch_device, torch_dtype),
            text_encoder=load_text_encoder(text_encoder_dir, torch_device, torch_dtype),
            audio_tokenizer=load_audio_tokenizer(
                audio_tokenizer_dir,
                torch_device,
                torch_dtype,
                include_encoder=include_audio_encoder,
            ),
        )

    @classmethod
    def from_model_dir(
        cls, model_dir: Path | str, multilingual: bool = False, **kwargs
    ) -> AudioGenPipeline:
        """Load from one folder holding the three snapshots under their Hub names."""
        from .checkpoints import resolve_model_dirs

        dirs = resolve_model_dirs(model_dir, multilingual=multilingual)
        return cls.load(dirs["generator"], dirs["text_encoder"], dirs["audio_tokenizer"], **kwargs)

    def _require(self, part: str, stage: str):
        component = getattr(self, part)
        if component is None:
            raise ValueError(
                f"{stage} needs the {part.replace('_', ' ')}, which this pipeline "
                "was built without: load it and pass it in"
            )
        return component

    @property
    def sample_rate(self) -> int:
        for part in (self.audio_tokenizer, self.generator):
            if part is not None:
                return int(part.sample_rate)
        return 16000

    # ------------------------------------------------------------------ stages

    @torch.inference_mode()
    def encode_prompt(self, prompts: str | Sequence[str]) -> Conditioning:
        """Tokenize and encode tagged prompts, then run the content adapter and duration head."""
        text_encoder = self._require("text_encoder", "encode_prompt")
        generator = self._require("generator", "encode_prompt")
        from .checkpoints import check_model_pairing

        check_model_pairing(generator, text_encoder)
        return self.condition(self.encode_text(prompts))

    @torch.inference_mode()
    def encode_text(self, prompts: str | Sequence[str]) -> TextStates:
        """The text encoder's half of ``encode_prompt``: T5 states, no generator needed.

        Run alone, it lets a caller free the text encoder before loading the generator.
        The generator's bundled tokenizer wins when the generator is loaded; otherwise the
        text encoder's own (load it with that tokenizer.json to get the same tokens).
        """
        text_encoder = self._require("text_encoder", "encode_text")
        prompt_list = _as_prompt_list(prompts)
        bundled = self.generator.tokenizer if self.generator is not None else None
        tokenizer = bundled or text_encoder.tokenizer
        ids, mask, token_counts = tokenizer.tokenize(prompt_list, text_encoder.max_length)
        for prompt, count in zip(prompt_list, token_counts, strict=True):
            report = token_report(prompt, lambda _p, n=count: n, TOKEN_LIMIT)
            if report.over_limit:
                logger.warning(report.message)
        hidden = text_encoder.model(ids.to(text_encoder.device), mask.to(text_encoder.device))
        return TextStates(prompts=prompt_list, hidden=hidden, mask=mask, token_counts=token_counts)

    @torch.inference_mode()
    def condition(self, text: TextStates) -> Conditioning:
        """The generator's half of ``encode_prompt``: content adapter and duration head."""
        generator = self._require("generator", "condition")
        cond = generator.condition(text.hidden, text.mask)  # runs on the conditioner's device
        return Conditioning(
            prompts=text.prompts,
            tensors=cond.to("cpu"),
            token_counts=text.token_counts,
            frame_rate=int(generator.frame_rate),
        )

    @torch.inference_mode()
    def align(self, cond: Conditioning, duration_s: float | None = None) -> Conditioning:
        """The "aligned" mode: each prompt's content follows the model's own per-token timing.

        Words and sounds land where the model's duration head places them (good for speech).
        The length is the sum of the token durations, or ``duration_s`` (on the 1/25 s frame
        grid), every token then lasting longer or shorter in proportion. Sample the result
        without another ``duration_s``, or with the same one.
        """
        generator = self._require("generator", "align")
        _check_conditioning(cond)
        duration_s = SETTINGS.check_duration(duration_s, "duration_s")
        frames = None
        if duration_s is not None:
            frames = frames_for_duration(duration_s, int(generator.frame_rate))
        aligned = generator.align(cond.tensors.to(generator.device), frames=frames)
        lengths = aligned.latent_lengths.tolist()
        for prompt, frames_of_item in zip(cond.prompts, lengths, strict=True):
            seconds = frames_of_item / generator.frame_rate
            if not 0 < seconds <= SETTINGS.max_duration_s:
                raise ValueError(
                    f"the model times the words of {prompt[:60]!r} at {seconds:g} s, outside "
                    f"(0, {SETTINGS.max_duration_s:g}] s: give the aligned mode a duration"
                )
        return dataclasses.replace(cond, tensors=aligned.to("cpu"))

    @torch.inference_mode()
    def add_timed_prompts(
        self, cond: Conditioning, events: TimelineEvent | Sequence[TimelineEvent]
    ) -> Conditioning:
        """``cond`` with ``events`` added as timed prompts (blend time mode); chainable.

        Each event's prompt is encoded alone (its encoding does not depend on the others). It
        holds from ``start_s`` to ``end_s`` (open: to the end of the clip) in seconds of the
        sampled clip, with its ``fade_s`` and ``strength``; the times are checked against the
        clip's length when sampling. Costs one extra DiT evaluation per prompt per sampling
        step wherever the prompt is heard.
        """
        _check_conditioning(cond)
        if cond.tensors.time_aligned is not None:
            raise ValueError(
                "this conditioning is time-aligned (aligned mode); timed prompts blend into a "
                "text-to-audio conditioning: use one time mode"
            )
        events = [events] if isinstance(events, TimelineEvent) else list(events)
        if not all(isinstance(e, TimelineEvent) for e in events):
            raise TypeError("events must be TimelineEvent objects (audiogen_core.timeline)")
        added = []
        for event in events:
            encoded = self.encode_prompt(event.prompt)
            added.append(TimedPrompt(event, encoded.tensors, encoded.token_counts[0]))
        return dataclasses.replace(cond, timed=(*cond.timed, *added))

    @torch.inference_mode()
    def encode_timeline(
        self,
        timeline: Timeline,
        duration_s: float | None = None,
        mode: str = DEFAULT_TIME_MODE,
    ) -> Conditioning:
        """One clip whose events each hold over their own time range, in either time mode.

        ``mode="blend"`` (default): the base prompt is encoded as usual and every event becomes
        a timed prompt (``add_timed_prompts``): at every step the velocity under each event's
        prompt is blended in over its range (with its fade and strength), the base prompt
        filling the rest. Needs a base prompt. One extra DiT evaluation per event per step.

        ``mode="aligned"``: the model's time-aligned path. Each event's content is laid over
        its range, its tokens sharing the range in proportion to their predicted durations;
        frames outside every event get what a non-aligned frame gets. The base prompt, if any,
        is heard over the whole clip (cross-attention). Events take no fade or strength.

        Both: the clip lasts ``duration_s``, else until the latest event ends (an open-ended
        event lasting its predicted duration), else the base prompt's predicted duration (see
        ``timeline.event_frames``).
        """
        self._require("generator", "encode_timeline")
        if not isinstance(timeline, Timeline):
            raise TypeError(f"timeline must be a Timeline, got {type(timeline).__name__}")
        mode = check_time_mode(mode)
        duration_s = SETTINGS.check_duration(duration_s, "duration_s")
        if mode == "blend":
            return self._encode_blend(timeline, duration_s)
        _refuse_shaped(timeline.events)
        prompts = [e.prompt for e in timeline.events]
        events = self.encode_prompt(prompts) if prompts else None
        base = None if timeline.base is None else self.encode_prompt(timeline.base)
        return self._lay_out(
            timeline,
            None if events is None else events.tensors,
            [] if events is None else events.token_counts,
            base,
            duration_s,
        )

    @torch.inference_mode()
    def apply_time_mode(
        self, cond: Conditioning, mode: str = DEFAULT_TIME_MODE, duration_s: float | None = None
    ) -> Conditioning:
        """``cond`` as the sampler uses it in time ``mode`` (a sampler's mode option).

        ``"blend"``: unchanged; its timed prompts (``add_timed_prompts``) are blended in when
        sampling. ``"aligned"``: its timed prompts are laid over their ranges on the model's
        time-aligned path with its own prompt as the base, as ``encode_timeline(...,
        mode="aligned")`` does (one prompt only; no fades or strengths); without timed prompts
        its prompts follow the model's own timing (``align``). ``duration_s`` as there. A
        conditioning that is already time-aligned is returned as it is.
        """
        generator = self._require("generator", "apply_time_mode")
        _check_conditioning(cond)
        mode = check_time_mode(mode)
        if mode == "blend" or cond.tensors.time_aligned is not None:
            return cond
        if not cond.timed:
            return self.align(cond, duration_s)
        if cond.batch_size != 1:
            raise ValueError(
                f"the aligned time mode lays timed prompts over one base prompt, but this "
                f"conditioning holds {cond.batch_size}: encode one prompt, or use the blend mode"
            )
        duration_s = SETTINGS.check_duration(duration_s, "duration_s")
        events = tuple(t.event for t in cond.timed)
        _refuse_shaped(events)
        rows = concat_conditionings([t.tensors.to(generator.device) for t in cond.timed])
        base = dataclasses.replace(cond, timed=())
        timeline = Timeline(events, cond.prompts[0])
        counts = [t.token_count for t in cond.timed]
        return self._lay_out(timeline, rows, counts, base, duration_s)

    def _lay_out(
        self,
        timeline: Timeline,
        events: GeneratorConditioning | None,
        event_token_counts: list[int],
        base: Conditioning | None,
        duration_s: float | None,
    ) -> Conditioning:
        """The aligned timeline of ``events`` (one row per event of ``timeline``) over ``base``."""
        generator = self._require("generator", "encode_timeline")
        frame_rate = int(generator.frame_rate)
        clip_frames = None if duration_s is None else frames_for_duration(duration_s, frame_rate)
        own = [] if events is None else events.local_frames.sum(dim=1).long().tolist()
        base_frames = None if base is None else base.predicted_frames[0]
        clip_frames, spans = event_frames(timeline, frame_rate, own, base_frames, clip_frames)
        if clip_frames / frame_rate > SETTINGS.max_duration_s:
            raise TimelineError(
                f"the timeline lasts {clip_frames / frame_rate:g} s, longer than the "
                f"{SETTINGS.max_duration_s:g} s limit: shorten it or give a duration"
            )
        device = generator.device
        tensors = generator.timeline(
            None if events is None else events.to(device),
            spans,
            clip_frames,
            base=None if base is None else base.tensors.to(device),
        )
        counts = event_token_counts + (base.token_counts if base else [])
        return Conditioning(
            prompts=[timeline.to_text()],
            tensors=tensors.to("cpu"),
            token_counts=[sum(counts)],
            frame_rate=frame_rate,
        )

    def _encode_blend(self, timeline: Timeline, duration_s: float | None) -> Conditioning:
        generator = self._require("generator", "encode_timeline")
        if timeline.base is None:
            raise TimelineError(
                "the blend time mode needs a base prompt, heard wherever no event is: add a "
                "line without times (or a caption), or use the aligned time mode"
            )
        frame_rate = int(generator.frame_rate)
        cond = self.add_timed_prompts(self.encode_prompt(timeline.base), timeline.events)
        own = [t.tensors.latent_lengths[0].item() for t in cond.timed]
        clip_frames = None if duration_s is None else frames_for_duration(duration_s, frame_rate)
        clip_frames, _ = event_frames(
            timeline, frame_rate, own, cond.predicted_frames[0], clip_frames
        )
        if clip_frames / frame_rate > SETTINGS.max_duration_s:
            raise TimelineError(
                f"the timeline lasts {clip_frames / frame_rate:g} s, longer than the "
                f"{SETTINGS.max_duration_s:g} s limit: shorten it or give a duration"
            )
        tensors = dataclasses.replace(cond.tensors, latent_lengths=torch.tensor([clip_frames]))
        return dataclasses.replace(cond, tensors=tensors)

    @torch.inference_mode()
    def sample(
        self,
        cond: Conditioning,
        seed: int | Sequence[int] | None = 0,
        steps: int = SETTINGS.steps,
        guidance: float = SETTINGS.guidance,
        sway: float = SETTINGS.sway,
        duration_s: float | None = None,
        variations: int = 1,
        callback: StepCallback | None = None,
        *,
        init: AudioLatent | None = None,
        denoise: float = SETTINGS.denoise,
        window_s: float | None = SETTINGS.window_s,
        overlap_s: float = SETTINGS.overlap_s,
    ) -> AudioLatent:
        """Run the flow-matching sampler. ``duration_s=None`` keeps the predicted length.

        Every argument is checked (see ``limits``) before any work starts. ``variations``
        samples of each prompt are made, consecutively; item ``j`` uses ``seed + j``, or
        ``seed[j]`` when a list of per-item seeds is given (one per item, variations
        included).

        Editing: ``init`` is a latent to start from (encoded audio or an earlier result; one
        item for all prompts, or one per prompt); the result has its length and sample count.
        ``denoise`` in (0, 1] runs the last part of the schedule from the init noised to that
        level (1 = from pure noise, as without init). ``init.noise_mask`` (``editing.py``)
        keeps the init where it is 0; without a mask everything is regenerated.

        Long clips: a length above ``window_s`` seconds is sampled window by window, each
        window keeping the last ``overlap_s`` seconds of the previous one as known context
        (``windows.py``); ``window_s=None`` samples any length in one pass. ``callback(step,
        total)`` counts the steps of all windows; an exception it raises stops sampling.
        """
        generator = self._require("generator", "sample")
        if not isinstance(cond, Conditioning):
            raise TypeError(
                f"cond must be the Conditioning returned by encode_prompt, got "
                f"{type(cond).__name__}"
            )
        steps = SETTINGS.check_steps(steps, "steps")
        guidance = SETTINGS.check_guidance(guidance, "guidance")
        sway = SETTINGS.check_sway(sway, "sway")
        variations = SETTINGS.check_variations(variations, "variations")
        duration_s = SETTINGS.check_duration(duration_s, "duration_s")
        denoise = SETTINGS.check_denoise(denoise, "denoise")
        if denoise < 1.0 and init is None:
            raise ValueError(
                f"denoise {denoise:g} < 1 needs an init latent to start from (encoded audio)"
            )
        if init is not None and duration_s is not None:
            raise ValueError(
                "duration_s and init do not go together: the result has the init's length; "
                "lengthen it with editing.extend"
            )
        if not isinstance(seed, Sequence):
            seed = SETTINGS.check_seed(seed, "seed")

        frame_rate = int(generator.frame_rate)
        sample_rate = int(generator.sample_rate)
        samples_per_frame = sample_rate // frame_rate
        grid = TimeGrid(frame_rate=frame_rate, sample_rate=sample_rate)
        window = None if window_s is None else window_frames(grid, window_s, overlap_s)
        tensors = cond.tensors.expand(variations) if variations > 1 else cond.tensors
        batch = int(tensors.latent_lengths.shape[0])
        start = None
        if init is not None:
            start = _init_per_item(init, generator, cond.batch_size, variations)
            lengths, num_samples = start.lengths.to(torch.int64), start.num_samples
        elif duration_s is not None:
            frames = frames_for_duration(duration_s, frame_rate)
            lengths = torch.full((batch,), frames, dtype=torch.int64)
            num_samples = [round(duration_s * sample_rate)] * batch
        else:
            lengths = tensors.latent_lengths.to(torch.int64)
            prompt_per_item = [p for p in cond.prompts for _ in range(variations)]
            bad = [p for p, n in zip(prompt_per_item, lengths.tolist(), strict=True) if n < 1]
            if bad:
                raise ValueError(
                    "the model predicted a duration of zero frames for "
                    f"{bad[0]!r}; set an explicit duration"
                )
            num_samples = [int(n) * samples_per_frame for n in lengths.tolist()]
        check_layout(tensors, lengths)
        tensors = dataclasses.replace(tensors, latent_lengths=lengths)

        seeds = item_seeds(seed, batch)
        num_frames = int(lengths.max()) if start is None else start.latent.shape[-1]
        if cond.timed:
            tensors = _with_blend_weights(tensors, cond.timed, grid, num_frames)
        noise = seeded_noise(seeds, int(generator.latent_dim), num_frames)
        latent = _sample_windows(
            generator,
            tensors,
            noise,
            start,
            plan_windows(num_frames, *(window or (None, 0))),
            dict(steps=steps, guidance=guidance, sway=sway),
            denoise,
            callback,
        )
        _check_finite(latent, "sampling", "the generator")
        return AudioLatent(
            latent=latent.float().cpu(),
            lengths=lengths,
            num_samples=num_samples,
            frame_rate=frame_rate,
            sample_rate=sample_rate,
            seeds=seeds,
        )

    @torch.inference_mode()
    def decode(self, latent: AudioLatent, chunk_frames: int = DECODE_CHUNK_FRAMES) -> torch.Tensor:
        """Latent -> waveform (B, 1, N) float32 on the CPU, N = the longest item's samples.

        Each item is cut to its own ``num_samples``; a shorter item is zero past its end. A
        user duration that is not a whole number of frames (1/25 s) is met exactly by
        trimming, or by padding at most one frame's remainder with silence.

        A latent longer than ``chunk_frames`` is decoded in pieces of that many frames, each
        with the decoder's reach of extra frames on both sides whose samples are dropped
        (``decode_context_frames``), so memory follows the piece and the audio is that of a
        single pass, with no seams.
        """
        tokenizer = self._require("audio_tokenizer", "decode")
        if (latent.sample_rate, latent.frame_rate) != (tokenizer.sample_rate, tokenizer.frame_rate):
            raise ValueError(
                f"this latent is {latent.frame_rate} frames/s for {latent.sample_rate} Hz audio, "
                f"but the audio tokenizer decodes {tokenizer.frame_rate} frames/s to "
                f"{tokenizer.sample_rate} Hz: use the tokenizer that belongs to the generator"
            )
        if not isinstance(chunk_frames, int) or chunk_frames < 1:
            raise ValueError(f"chunk_frames must be a whole number >= 1, got {chunk_frames!r}")
        _check_finite(latent.latent, "sampling", "the generator")
        frames = latent.latent  # (B, C, T), channels-first as the tokenizer takes it
        count = frames.shape[-1]
        per_frame = int(tokenizer.samples_per_frame)
        total = max(latent.num_samples)
        out = torch.zeros((frames.shape[0], 1, total), dtype=torch.float32)
        context = int(tokenizer.decode_context_frames) if count > chunk_frames else 0
        for first in range(0, count, chunk_frames):
            stop = min(first + chunk_frames, count)
            lo, hi = max(first - context, 0), min(stop + context, count)
            piece = frames[..., lo:hi].to(tokenizer.device, tokenizer.dtype)
            decoded = tokenizer.decode(piece).float().cpu()
            _check_finite(decoded, "decoding", "the audio tokenizer")
            decoded = decoded[:, (first - lo) * per_frame : (stop - lo) * per_frame]
            begin = first * per_frame
            for i, n in enumerate(latent.num_samples):
                keep = min(n - begin, decoded.shape[-1])
                if keep > 0:
                    out[i, 0, begin : begin + keep] = decoded[i, :keep]
        return out

    @torch.inference_mode()
    def encode_audio(self, waveform: torch.Tensor | np.ndarray, sample_rate: int) -> AudioLatent:
        """Waveform (B, C, N), (C, N) or (N,) at any rate -> latent of the 16 kHz mono mix.

        Items are encoded one at a time so that a clip's latent does not depend on what else
        is in the batch (the reference's dB floor is a batch-wide maximum).
        """

        tokenizer = self._require("audio_tokenizer", "encode_audio")
        batch = _as_batch(waveform)
        sample_rate = check_sample_rate(sample_rate, "sample_rate")
        target_rate = int(tokenizer.sample_rate)
        latents, counts = [], []
        for item in batch:
            mono = item.mean(dim=0)
            if sample_rate != target_rate:
                mono = torch.as_tensor(
                    resample(mono[None].numpy(), sample_rate, target_rate)[0], dtype=torch.float32
                )
            counts.append(int(mono.shape[-1]))
            # float32 in: the tokenizer's front-ends run in float32 whatever its precision.
            encoded = tokenizer.encode(mono[None])
            latents.append(encoded[0].float().cpu())
        frames = [lat.shape[-1] for lat in latents]
        if len(set(frames)) != 1:
            raise ValueError("all clips of an AUDIO batch must have the same length")
        frame_rate = int(tokenizer.frame_rate)
        per_frame = target_rate // frame_rate
        return AudioLatent(
            latent=torch.stack(latents),
            lengths=torch.tensor(frames),
            num_samples=[frames[0] * per_frame] * len(latents),
            frame_rate=frame_rate,
            sample_rate=target_rate,
        )

    def generate(
        self,
        prompts: str | Sequence[str] | Timeline,
        seed: int | None = 0,
        steps: int = SETTINGS.steps,
        guidance: float = SETTINGS.guidance,
        sway: float = SETTINGS.sway,
        duration_s: float | None = None,
        variations: int = 1,
        callback: StepCallback | None = None,
        *,
        init: AudioLatent | None = None,
        denoise: float = SETTINGS.denoise,
        window_s: float | None = SETTINGS.window_s,
        overlap_s: float = SETTINGS.overlap_s,
        time_mode: str = DEFAULT_TIME_MODE,
    ) -> GeneratedAudio:
        """encode -> sample -> decode (the editing and window options as in sample).

        ``prompts`` may be a :class:`Timeline`, encoded in ``time_mode`` (``encode_timeline``);
        plain prompts in the "aligned" time mode follow the model's own timing (``align``).
        """
        time_mode = check_time_mode(time_mode, "time_mode")
        if isinstance(prompts, Timeline):
            cond = self.encode_timeline(prompts, duration_s, mode=time_mode)
        else:
            cond = self.encode_prompt(prompts)
            if time_mode == "aligned":
                cond = self.align(cond, duration_s)
        latent = self.sample(
            cond,
            seed=seed,
            steps=steps,
            guidance=guidance,
            sway=sway,
            duration_s=duration_s,
            variations=variations,
            callback=callback,
            init=init,
            denoise=denoise,
            window_s=window_s,
            overlap_s=overlap_s,
        )
        waveform = self.decode(latent)
        prompt_per_item = [p for p in cond.prompts for _ in range(variations)]
        return GeneratedAudio(
            waveform=waveform,
            sample_rate=latent.sample_rate,
            num_samples=latent.num_samples,
            seeds=latent.seeds or [],
            prompts=prompt_per_item,
        )


def _with_blend_weights(
    tensors: GeneratorConditioning,
    timed: Sequence[TimedPrompt],
    grid: TimeGrid,
    num_frames: int,
) -> GeneratorConditioning:
    """``tensors`` with the timed prompts and their blend weights (b, 1 + k, num_frames), each
    item's from its own length (an open range ends where the item does)."""
    if tensors.time_aligned is not None:
        raise ValueError(
            "a time-aligned conditioning cannot also blend timed prompts: use one time mode"
        )
    events = [t.event for t in timed]
    by_length: dict[int, torch.Tensor] = {}
    rows = []
    for frames in tensors.latent_lengths.tolist():
        if frames not in by_length:
            raw = torch.nn.functional.pad(
                event_weights(grid, frames, events), (0, num_frames - frames)
            )
            by_length[frames] = blend_weights(raw)
        rows.append(by_length[frames])
    prompts = tuple(t.tensors for t in timed)
    return dataclasses.replace(tensors, timed=TimedPrompts(prompts, torch.stack(rows)))


def _refuse_shaped(events: Sequence[TimelineEvent]) -> None:
    shaped = [e for e in events if e.shaped]
    if shaped:
        raise TimelineError(
            f"{shaped[0].where}the event {shaped[0].range_text} s has a fade or a strength "
            "below 1, which only the blend time mode uses: drop them or use mode 'blend'"
        )


def check_layout(tensors: GeneratorConditioning, lengths: torch.Tensor) -> None:
    """Refuse sampling a time-aligned conditioning at other lengths than it was laid out for."""
    if tensors.time_aligned is None:
        return
    laid_out = tensors.latent_lengths.to(lengths.device)
    if not torch.equal(laid_out, lengths):
        changed = int((laid_out != lengths).nonzero()[0, 0])
        raise ValueError(layout_message(int(laid_out[changed]), int(lengths[changed])))


def _check_conditioning(cond: object) -> None:
    if not isinstance(cond, Conditioning):
        raise TypeError(
            f"cond must be the Conditioning returned by encode_prompt, got {type(cond).__name__}"
        )


def _check_finite(values: torch.Tensor, stage: str, part: str) -> None:
    """Refuse NaN or inf before it becomes audio: a file of it is full-scale noise or DC."""
    if not bool(torch.isfinite(values).all()):
        raise NonFiniteAudioError(
            f"{stage} produced NaN or infinite values, so no audio was made. Usual causes: "
            f"damaged weights in {part} (re-download the snapshot), or float16 overflowing "
            "(use bf16 or fp32)."
        )


def _as_batch(waveform: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Any of (N,), (C, N), (B, C, N) as a float32 CPU tensor (B, C, N), checked."""
    if not isinstance(waveform, torch.Tensor | np.ndarray):
        raise TypeError(
            f"waveform must be a torch tensor or numpy array, got {type(waveform).__name__}"
        )
    tensor = torch.as_tensor(waveform).detach().to("cpu", torch.float32)
    if tensor.dim() == 1:
        tensor = tensor[None, None]
    elif tensor.dim() == 2:
        tensor = tensor[None]
    if tensor.dim() != 3 or tensor.shape[-1] == 0 or tensor.shape[1] == 0:
        raise ValueError(
            f"waveform must be shaped (B, C, N) with samples, got {tuple(tensor.shape)}"
        )
    if not torch.isfinite(tensor).all():
        raise ValueError("waveform contains NaN or infinite samples")
    return tensor


def _init_per_item(init: AudioLatent, generator, num_prompts: int, variations: int) -> AudioLatent:
    """``init`` checked against the generator and repeated to one item per variation."""
    if not isinstance(init, AudioLatent):
        raise TypeError(f"init must be an AudioLatent (encoded audio), got {type(init).__name__}")
    latent_dim = int(generator.latent_dim)
    if init.latent.dim() != 3 or init.latent.shape[1] != latent_dim:
        raise ValueError(
            f"init is a latent of another model size: shape {tuple(init.latent.shape)}, but "
            f"this generator's latents are (batch, {latent_dim}, frames); encode the audio "
            "with the audio tokenizer that belongs to this generator"
        )
    rates = (int(generator.frame_rate), int(generator.sample_rate))
    if (init.frame_rate, init.sample_rate) != rates:
        raise ValueError(
            f"init runs at {init.frame_rate} frames/s for {init.sample_rate} Hz audio, this "
            f"generator at {rates[0]} frames/s for {rates[1]} Hz"
        )
    rows, frames = init.batch_size, init.latent.shape[-1]
    if rows not in (1, num_prompts):
        raise ValueError(
            f"init has {rows} items for {num_prompts} prompts: give one init for all prompts "
            "or one per prompt"
        )
    if frames > frames_for_duration(SETTINGS.max_duration_s, init.frame_rate):
        raise ValueError(
            f"init lasts {frames / init.frame_rate:g} s, more than the "
            f"{SETTINGS.max_duration_s:g} s one run can make"
        )
    mask = init.noise_mask
    if mask is not None:
        mask = torch.as_tensor(mask, dtype=torch.float32)
        if mask.dim() != 2 or mask.shape[0] not in (1, rows) or mask.shape[1] != frames:
            raise ValueError(
                f"init.noise_mask must be (1 or {rows}, {frames}), got {tuple(mask.shape)}"
            )
        if not bool(((mask >= 0) & (mask <= 1)).all()):
            raise ValueError("init.noise_mask values must lie in [0, 1] (1 = regenerate)")
        mask = mask.expand(rows, frames)
    # Item p * variations + v is variation v of prompt p, like GeneratorConditioning.expand.
    index = torch.arange(num_prompts).repeat_interleave(variations)
    if rows == 1:
        index = torch.zeros_like(index)
    return AudioLatent(
        latent=init.latent.float().index_select(0, index),
        lengths=init.lengths.to(torch.int64).index_select(0, index),
        num_samples=[init.num_samples[i] for i in index.tolist()],
        frame_rate=init.frame_rate,
        sample_rate=init.sample_rate,
        noise_mask=None if mask is None else mask.index_select(0, index),
    )


def _sample_windows(
    generator,
    cond,
    noise: torch.Tensor,
    start: AudioLatent | None,
    windows: list[Window],
    settings: dict,
    denoise: float,
    callback: StepCallback | None,
) -> torch.Tensor:
    """One ``generator.sample`` call per window (see ``windows.py``), into one latent.

    A window's init is the latent so far: the caller's init, with the frames of earlier
    windows already written in. Its first ``known`` frames get the context mask (the first
    half kept exactly, the second half blended in), so the window is generated to continue
    them. Items without new frames in a
    window sit it out, and a window with nothing to regenerate (mask 0 throughout) is not
    sampled: its result would be its init, exactly.
    """
    batch = noise.shape[0]
    lengths = [int(n) for n in cond.latent_lengths.tolist()]
    result = torch.zeros_like(noise) if start is None else start.latent.clone()
    mask = None if start is None else start.noise_mask
    jobs = []
    for window in windows:
        items = [i for i in range(batch) if lengths[i] > window.start + window.known]
        window_mask = None
        if mask is not None or window.known:
            window_mask = (
                torch.ones(len(items), window.stop - window.start)
                if mask is None
                else mask[items, window.start : window.stop].clone()
            )
            window_mask[:, : window.known] = torch.minimum(
                window_mask[:, : window.known], context_mask(window.known)
            )
            valid = [window_mask[j, : lengths[i] - window.start] for j, i in enumerate(items)]
            items = [i for i, row in zip(items, valid, strict=True) if bool(row.any())]
            window_mask = window_mask[[j for j, row in enumerate(valid) if bool(row.any())]]
            if bool((window_mask == 1).all()):
                window_mask = None  # regenerate everything: no frames to keep
        if items:
            jobs.append((window, torch.tensor(items), window_mask))

    schedule = denoise_schedule(settings["steps"], settings["sway"], denoise)
    per_window = len(evaluated_steps(schedule))
    total_steps = per_window * len(jobs)
    for n, (window, index, window_mask) in enumerate(jobs):
        span = slice(window.start, window.stop)
        local = cond.index_select(index)
        local = dataclasses.replace(
            local,
            latent_lengths=(local.latent_lengths - window.start).clamp(max=span.stop - span.start),
            # A time-aligned layout and blend weights are per frame: each window takes its own
            # frames of them (timed prompts hold in absolute seconds of the clip).
            time_aligned=None if local.time_aligned is None else local.time_aligned[:, span],
            timed=None
            if local.timed is None
            else TimedPrompts(local.timed.prompts, local.timed.weights[:, :, span]),
        )
        fresh = start is None and not window.known
        step_callback = None
        if callback is not None:

            def step_callback(step, _total, base=n * per_window):
                callback(base + step, total_steps)

        out = generator.sample(
            local.to(generator.device),
            noise[index, :, span].to(generator.device),
            callback=step_callback,
            init=None if fresh else result[index, :, span],
            noise_mask=window_mask,
            denoise=denoise,
            **settings,
        )
        result[index, :, span] = out.float().cpu()
    return result
