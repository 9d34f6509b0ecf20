"""AudioGenPipeline: prompt -> conditioning -> latent -> 16 kHz waveform, one stage at a time.

The pipeline only orchestrates the parts it is given (generator, text encoder, audio tokenizer)
and the modules that work on them: ``conditioning/`` (encoded prompts, time layouts, timed
prompts), ``sampling/`` (seeds, noise, lengths, windows, the sampler) and the audio tokenizer's
``chunked`` decode and encode. Each stage needs only its own parts, so the ComfyUI nodes can
call them separately and ``generate()`` simply chains them. Seconds are checked against the
settings (``sampling/settings.py``) here, at the edge, and become frames for the parts.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .conditioning import time_modes
from .conditioning.alignment import align
from .conditioning.blending import (
    DEFAULT_TIME_MODE,
    check_time_mode,
    with_blend_weights,
)
from .conditioning.encoded import (
    Conditioning,
    TextStates,
    condition,
)
from .conditioning.prompt import TOKEN_LIMIT, token_report, validate_prompt
from .conditioning.timegrid import TimeGrid
from .conditioning.timeline import Timeline, TimelineEvent
from .media.resampling import check_sample_rate, resample
from .models.audio_tokenizer.chunked import DECODE_CHUNK_FRAMES, decode_in_pieces, encode_items
from .runtime.devices import resolve_device, resolve_dtype
from .sampling.latent import AudioLatent, frames_for_duration, init_per_item, item_lengths
from .sampling.noise import item_seeds, seeded_noise
from .sampling.settings import SETTINGS
from .sampling.windows import plan_windows, sample_windows, window_frames

logger = logging.getLogger(__name__)

StepCallback = Callable[[int, int], None]


class NonFiniteAudioError(ValueError):
    """A stage produced NaN or infinite values; nothing built from them may be kept."""


@dataclass
class GeneratedAudio:
    waveform: torch.Tensor  # (B, 1, N) float32 CPU
    sample_rate: int
    num_samples: list[int]
    seeds: list[int]
    prompts: list[str]


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
        include_encoder: bool = False,
        *,
        include_audio_encoder: bool | None = None,
    ) -> AudioGenPipeline:
        """Load the three official snapshot folders onto one device in one precision.

        The folders are checked first (``checkpoints.check_snapshot_set``), so nothing is
        loaded for a bad combination. ``include_encoder`` also loads the audio tokenizer's
        encoder (for editing; ``include_audio_encoder`` is its older spelling).
        """
        from .checkpoints import (
            check_snapshot_set,
            load_audio_tokenizer,
            load_generator,
            load_text_encoder,
        )

        if include_audio_encoder is not None:
            include_encoder = include_audio_encoder
        check_snapshot_set(generator_dir, text_encoder_dir, audio_tokenizer_dir)
        torch_device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, torch_device)
        return cls(
            generator=load_generator(generator_dir, torch_device, torch_dtype),
            text_encoder=load_text_encoder(text_encoder_dir, torch_device, torch_dtype),
            audio_tokenizer=load_audio_tokenizer(
                audio_tokenizer_dir, torch_device, torch_dtype, include_encoder=include_encoder
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
        cond = condition(generator, text.hidden, text.mask)  # on the conditioner's device
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
        aligned = align(generator, cond.tensors.to(generator.device), frames=frames)
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
        return time_modes.add_timed_prompts(cond, events, self.encode_prompt)

    @torch.inference_mode()
    def encode_timeline(
        self,
        timeline: Timeline,
        duration_s: float | None = None,
        time_mode: str = DEFAULT_TIME_MODE,
        *,
        mode: str | None = None,
    ) -> Conditioning:
        """One clip whose events each hold over their own time range, in either time mode
        (``mode`` is the older spelling of ``time_mode``).

        ``time_mode="blend"`` (default): the base prompt is encoded as usual and every event becomes
        a timed prompt (``add_timed_prompts``): at every step the velocity under each event's
        prompt is blended in over its range (with its fade and strength), the base prompt
        filling the rest. Needs a base prompt. One extra DiT evaluation per event per step.

        ``time_mode="aligned"``: the model's time-aligned path. Each event's content is laid over
        its range, its tokens sharing the range in proportion to their predicted durations;
        frames outside every event get what a non-aligned frame gets. The base prompt, if any,
        is heard over the whole clip (cross-attention). Events take no fade or strength.

        Both: the clip lasts ``duration_s``, else until the latest event ends (an open-ended
        event lasting its predicted duration), else the base prompt's predicted duration (see
        ``timeline.event_frames``).
        """
        generator = self._require("generator", "encode_timeline")
        if not isinstance(timeline, Timeline):
            raise TypeError(f"timeline must be a Timeline, got {type(timeline).__name__}")
        time_mode = check_time_mode(time_mode if mode is None else mode)
        clip_frames = _clip_frames(generator, duration_s)
        return time_modes.encode_timeline(
            generator, timeline, time_mode, clip_frames, SETTINGS.max_duration_s, self.encode_prompt
        )

    @torch.inference_mode()
    def apply_time_mode(
        self,
        cond: Conditioning,
        time_mode: str = DEFAULT_TIME_MODE,
        duration_s: float | None = None,
        *,
        mode: str | None = None,
    ) -> Conditioning:
        """``cond`` as the sampler uses it in ``time_mode`` (the Sampler's option; ``mode`` is
        its older spelling).

        ``"blend"``: unchanged; its timed prompts (``add_timed_prompts``) are blended in when
        sampling. ``"aligned"``: its timed prompts are laid over their ranges on the model's
        time-aligned path with its own prompt as the base, as ``encode_timeline(...,
        mode="aligned")`` does (one prompt only; no fades or strengths); without timed prompts
        its prompts follow the model's own timing (``align``). ``duration_s`` as there. A
        conditioning that is already time-aligned is returned as it is.
        """
        generator = self._require("generator", "apply_time_mode")
        _check_conditioning(cond)
        time_mode = check_time_mode(time_mode if mode is None else mode)
        if time_mode == "blend" or cond.tensors.time_aligned is not None:
            return cond
        if not cond.timed:
            return self.align(cond, duration_s)
        clip_frames = _clip_frames(generator, duration_s)
        return time_modes.lay_out_timed_prompts(
            generator, cond, clip_frames, SETTINGS.max_duration_s
        )

    @torch.inference_mode()
    def sample(
        self,
        cond: Conditioning,
        seed: int | Sequence[int] | None = SETTINGS.seed,
        steps: int = SETTINGS.steps,
        guidance: float = SETTINGS.guidance,
        sway: float = SETTINGS.sway,
        duration_s: float | None = None,
        variations: int = SETTINGS.variations,
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
        _check_conditioning(cond)
        steps, guidance, sway, variations, duration_s, denoise, seed = _checked_sample_args(
            steps, guidance, sway, variations, duration_s, denoise, seed, init
        )
        grid = TimeGrid(
            frame_rate=int(generator.frame_rate), sample_rate=int(generator.sample_rate)
        )
        window = None if window_s is None else window_frames(grid, window_s, overlap_s)
        tensors = cond.tensors.expand(variations) if variations > 1 else cond.tensors
        start = (
            None if init is None else init_per_item(init, generator, cond.batch_size, variations)
        )
        prompt_per_item = [p for p in cond.prompts for _ in range(variations)]
        lengths, num_samples = item_lengths(
            grid, tensors.latent_lengths, prompt_per_item, duration_s, start
        )
        tensors = tensors.with_lengths(lengths)
        seeds = item_seeds(seed, len(prompt_per_item))
        num_frames = int(lengths.max()) if start is None else start.latent.shape[-1]
        if cond.timed:
            tensors = with_blend_weights(tensors, cond.timed, grid, num_frames)
        latent = sample_windows(
            generator,
            tensors,
            seeded_noise(seeds, int(generator.latent_dim), num_frames),
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
            frame_rate=grid.frame_rate,
            sample_rate=grid.sample_rate,
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
        _check_latent_rates(latent, tokenizer)
        _check_finite(latent.latent, "sampling", "the generator")
        return decode_in_pieces(
            tokenizer,
            latent.latent,
            latent.num_samples,
            chunk_frames,
            check=lambda piece: _check_finite(piece, "decoding", "the audio tokenizer"),
        )

    @torch.inference_mode()
    def encode_audio(self, waveform: torch.Tensor | np.ndarray, sample_rate: int) -> AudioLatent:
        """Waveform (B, C, N), (C, N) or (N,) at any rate -> latent of the 16 kHz mono mix.

        Items are encoded one at a time so that a clip's latent does not depend on what else
        is in the batch (the reference's dB floor is a batch-wide maximum).
        """

        tokenizer = self._require("audio_tokenizer", "encode_audio")
        target_rate = int(tokenizer.sample_rate)
        clips = _mono_clips(_as_batch(waveform), sample_rate, target_rate)
        latent = encode_items(tokenizer, clips)
        frames, frame_rate = latent.shape[-1], int(tokenizer.frame_rate)
        return AudioLatent(
            latent=latent,
            lengths=torch.tensor([frames] * len(clips)),
            num_samples=[frames * (target_rate // frame_rate)] * len(clips),
            frame_rate=frame_rate,
            sample_rate=target_rate,
        )

    def generate(
        self,
        prompts: str | Sequence[str] | Timeline,
        seed: int | None = SETTINGS.seed,
        steps: int = SETTINGS.steps,
        guidance: float = SETTINGS.guidance,
        sway: float = SETTINGS.sway,
        duration_s: float | None = None,
        variations: int = SETTINGS.variations,
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
            cond = self.encode_timeline(prompts, duration_s, time_mode)
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


def _checked_sample_args(steps, guidance, sway, variations, duration_s, denoise, seed, init):
    """``sample``'s arguments checked against the settings, before any work starts."""
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
    return steps, guidance, sway, variations, duration_s, denoise, seed


def _clip_frames(generator, duration_s: float | None) -> int | None:
    """A user duration checked against the settings, in the generator's frames."""
    duration_s = SETTINGS.check_duration(duration_s, "duration_s")
    if duration_s is None:
        return None
    return frames_for_duration(duration_s, int(generator.frame_rate))


def _check_latent_rates(latent: AudioLatent, tokenizer) -> None:
    if (latent.sample_rate, latent.frame_rate) != (tokenizer.sample_rate, tokenizer.frame_rate):
        raise ValueError(
            f"this latent is {latent.frame_rate} frames/s for {latent.sample_rate} Hz audio, "
            f"but the audio tokenizer decodes {tokenizer.frame_rate} frames/s to "
            f"{tokenizer.sample_rate} Hz: use the tokenizer that belongs to the generator"
        )


def _mono_clips(batch: torch.Tensor, sample_rate: int, target_rate: int) -> list[torch.Tensor]:
    """Each item of a (B, C, N) batch as a mono clip at ``target_rate``."""
    sample_rate = check_sample_rate(sample_rate, "sample_rate")
    clips = []
    for item in batch:
        mono = item.mean(dim=0)
        if sample_rate != target_rate:
            mono = torch.as_tensor(
                resample(mono[None].numpy(), sample_rate, target_rate)[0], dtype=torch.float32
            )
        clips.append(mono)
    return clips


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
