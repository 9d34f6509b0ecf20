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
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .devices import resolve_device, resolve_dtype
from .prompt import TOKEN_LIMIT, token_report, validate_prompt

logger = logging.getLogger(__name__)

MAX_DURATION_S = 600.0
SEED_MODULUS = 2**64
StepCallback = Callable[[int, int], None]


@dataclass
class Conditioning:
    """Encoded prompts: what the sampler needs, plus what a front end wants to show."""

    prompts: list[str]
    generator: object  # generator.GeneratorConditioning, kept on the CPU between stages
    token_counts: list[int]
    frame_rate: int

    @property
    def batch_size(self) -> int:
        return len(self.prompts)

    @property
    def predicted_frames(self) -> list[int]:
        return [int(n) for n in self.generator.latent_lengths.tolist()]

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
    """

    latent: torch.Tensor
    lengths: torch.Tensor
    num_samples: list[int]
    frame_rate: int
    sample_rate: int
    seeds: list[int] | None = None

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
    if not isinstance(duration_s, (int, float)) or not math.isfinite(duration_s):
        raise ValueError(f"duration must be a number of seconds, got {duration_s!r}")
    if duration_s <= 0 or duration_s > MAX_DURATION_S:
        raise ValueError(
            f"duration {duration_s} s is out of range: use a value in "
            f"(0, {MAX_DURATION_S:g}] seconds, or leave it unset for the model's "
            "own prediction"
        )
    frames = round(duration_s * frame_rate)
    if frames < 1:
        raise ValueError(
            f"duration {duration_s} s is shorter than one latent frame ({1 / frame_rate:g} s): "
            f"use at least {1 / frame_rate:g} s, or leave it unset for the predicted length"
        )
    return frames


def resolve_seed(seed: int | None) -> int:
    """``None`` or a negative seed draws a fresh random seed (reported back to the caller)."""
    if seed is None or seed < 0:
        return random.randrange(SEED_MODULUS)
    return int(seed) % SEED_MODULUS


def seeded_noise(seeds: Sequence[int], channels: int, frames: int) -> torch.Tensor:
    """Standard normal noise (B, channels, frames), item j drawn from its own CPU generator."""
    rows = []
    for seed in seeds:
        generator = torch.Generator(device="cpu").manual_seed(seed)
        rows.append(torch.randn((channels, frames), generator=generator, dtype=torch.float32))
    return torch.stack(rows)


def _as_prompt_list(prompts: str | Sequence[str]) -> list[str]:
    items = [prompts] if isinstance(prompts, str) else list(prompts)
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
        """Load the three official snapshot folders onto one device in one precision."""
        from .weights import load_audio_tokenizer, load_generator, load_text_encoder

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
    def from_model_dir(cls, model_dir: Path | str, **kwargs) -> AudioGenPipeline:
        """Load from one folder holding the three snapshots under their Hub names."""
        from .weights import resolve_model_dirs

        dirs = resolve_model_dirs(model_dir)
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
        self._require("text_encoder", "encode_prompt")
        self._require("generator", "encode_prompt")
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
        tokenizer = getattr(self.generator, "bundled_tokenizer", None) or text_encoder.tokenizer
        token_counts = [tokenizer.count_tokens(p) for p in prompt_list]
        for prompt, count in zip(prompt_list, token_counts, strict=True):
            report = token_report(prompt, lambda _p, n=count: n, TOKEN_LIMIT)
            if report.over_limit:
                logger.warning(report.message)
        ids, mask = tokenizer(prompt_list, max_length=text_encoder.max_length)
        hidden = text_encoder.model(ids.to(text_encoder.device), mask.to(text_encoder.device))
        return TextStates(prompts=prompt_list, hidden=hidden, mask=mask, token_counts=token_counts)

    @torch.inference_mode()
    def condition(self, text: TextStates) -> Conditioning:
        """The generator's half of ``encode_prompt``: content adapter and duration head."""
        generator = self._require("generator", "condition")
        cond = generator.condition(text.hidden.to(generator.device), text.mask.to(generator.device))
        return Conditioning(
            prompts=text.prompts,
            generator=cond.to("cpu"),
            token_counts=text.token_counts,
            frame_rate=int(generator.frame_rate),
        )

    @torch.inference_mode()
    def sample(
        self,
        cond: Conditioning,
        seed: int | None = 0,
        steps: int = 25,
        guidance: float = 5.0,
        sway: float = -1.0,
        duration_s: float | None = None,
        num_variations: int = 1,
        callback: StepCallback | None = None,
    ) -> AudioLatent:
        """Run the flow-matching sampler. ``duration_s=None`` keeps the predicted length."""
        generator = self._require("generator", "sample")
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a whole number >= 1, got {steps!r}")
        if not math.isfinite(guidance) or guidance < 0:
            raise ValueError(f"guidance must be a finite number >= 0, got {guidance!r}")
        if not math.isfinite(sway):
            raise ValueError(f"sway must be a finite number, got {sway!r}")
        if not isinstance(num_variations, int) or num_variations < 1:
            raise ValueError(f"num_variations must be a whole number >= 1, got {num_variations!r}")

        frame_rate = int(generator.frame_rate)
        sample_rate = int(generator.sample_rate)
        samples_per_frame = sample_rate // frame_rate
        gen_cond = cond.generator.expand(num_variations) if num_variations > 1 else cond.generator
        batch = int(gen_cond.latent_lengths.shape[0])
        if duration_s is not None:
            frames = frames_for_duration(duration_s, frame_rate)
            lengths = torch.full((batch,), frames, dtype=torch.int64)
            num_samples = [round(duration_s * sample_rate)] * batch
        else:
            lengths = gen_cond.latent_lengths.to(torch.int64)
            bad = [p for p, n in zip(cond.prompts, lengths.tolist(), strict=False) if n < 1]
            if bad:
                raise ValueError(
                    "the model predicted a duration of zero frames for "
                    f"{bad[0]!r}; set an explicit duration"
                )
            num_samples = [int(n) * samples_per_frame for n in lengths.tolist()]
        gen_cond = dataclasses.replace(gen_cond, latent_lengths=lengths)

        base_seed = resolve_seed(seed)
        seeds = [(base_seed + j) % SEED_MODULUS for j in range(batch)]
        noise = seeded_noise(seeds, int(generator.latent_dim), int(lengths.max()))
        latent = generator.sample(
            gen_cond.to(generator.device),
            noise.to(generator.device),
            num_steps=steps,
            guidance_scale=guidance,
            sway_sampling_coef=sway,
            callback=callback,
        )
        return AudioLatent(
            latent=latent.float().cpu(),
            lengths=lengths,
            num_samples=num_samples,
            frame_rate=frame_rate,
            sample_rate=sample_rate,
            seeds=seeds,
        )

    @torch.inference_mode()
    def decode(self, latent: AudioLatent) -> torch.Tensor:
        """Latent -> waveform (B, 1, N) float32 on the CPU, N = the longest item's samples.

        Each item is cut to its own ``num_samples``; a shorter item is zero past its end. A
        user duration that is not a whole number of frames (1/25 s) is met exactly by
        trimming, or by padding at most one frame's remainder with silence.
        """
        tokenizer = self._require("audio_tokenizer", "decode")
        frames = latent.latent.transpose(1, 2).to(tokenizer.device, tokenizer.dtype)
        decoded = tokenizer.decode(frames).float().cpu()
        total = max(latent.num_samples)
        out = torch.zeros((decoded.shape[0], 1, total), dtype=torch.float32)
        for i, n in enumerate(latent.num_samples):
            keep = min(n, decoded.shape[-1])
            out[i, 0, :keep] = decoded[i, :keep]
        return out

    @torch.inference_mode()
    def encode_audio(self, waveform: torch.Tensor | np.ndarray, sample_rate: int) -> AudioLatent:
        """Waveform (B, C, N), (C, N) or (N,) at any rate -> latent of the 16 kHz mono mix.

        Items are encoded one at a time so that a clip's latent does not depend on what else
        is in the batch (the reference's dB floor is a batch-wide maximum).
        """
        from .mixing import resample

        tokenizer = self._require("audio_tokenizer", "encode_audio")
        batch = _as_batch(waveform)
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
            latents.append(encoded[0].float().cpu().transpose(0, 1))
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
        prompts: str | Sequence[str],
        seed: int | None = 0,
        steps: int = 25,
        guidance: float = 5.0,
        sway: float = -1.0,
        duration_s: float | None = None,
        num_variations: int = 1,
        callback: StepCallback | None = None,
    ) -> GeneratedAudio:
        """encode_prompt -> sample -> decode."""
        cond = self.encode_prompt(prompts)
        latent = self.sample(
            cond,
            seed=seed,
            steps=steps,
            guidance=guidance,
            sway=sway,
            duration_s=duration_s,
            num_variations=num_variations,
            callback=callback,
        )
        waveform = self.decode(latent)
        prompt_per_item = [p for p in cond.prompts for _ in range(num_variations)]
        return GeneratedAudio(
            waveform=waveform,
            sample_rate=latent.sample_rate,
            num_samples=latent.num_samples,
            seeds=latent.seeds or [],
            prompts=prompt_per_item,
        )


def _as_batch(waveform: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Any of (N,), (C, N), (B, C, N) as a float32 CPU tensor (B, C, N), checked."""
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
