"""The Dasheng-AudioGen generator: T5 states -> conditioning -> sampled latent.

:class:`DashengAudioGenerator` holds every tensor of the official generator checkpoint under its
official name (``backbone.*``, ``content_adapter.*``, ``content_encoder.text_encoder.proj.*``,
the dummy embeddings and the instruction buffers). It does two things:

* :meth:`DashengAudioGenerator.condition`: project the T5 hidden states, run the content
  adapter and turn its global log-duration into a latent length per prompt;
* :meth:`DashengAudioGenerator.align` / :meth:`DashengAudioGenerator.timeline`: the model's
  time-aligned path, content laid along the frames (per-frame time-aligned input);
* :meth:`DashengAudioGenerator.sample`: integrate the flow from given noise to a latent with
  classifier-free guidance, computing the conditioning-only terms of the DiT once per call.

The T5 encoder and the audio decoder are separate modules; the pipeline chains them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..conditioning.alignment import (
    expand_by_duration,
    lay_over_range,
    local_latent_frames,
    pad_frames,
)
from ..sampling.schedules import (
    ProgressCallback,
    denoise_schedule,
    euler_sample,
    keep_known_frames,
    start_sample,
)
from .adapter import AdapterOutput, ContentAdapter, frames_mask, global_latent_frames
from .dit import LayerFusionDiT, StepConstants, config_value
from .ops import ComputeDevice, PlainOps
from .text_encoder import T5Tokenizer

T5_FAMILY = "t5"
MT5_FAMILY = "mt5"
# The text encoder a generator config without ``text_encoder_name`` was trained with.
DEFAULT_TEXT_ENCODER = "google/flan-t5-large"


def generator_text_encoder_family(config: dict) -> str:
    """``"mt5"`` or ``"t5"``: the text encoder a generator config names (flan-t5 if absent)."""
    name = str(config.get("text_encoder_name") or DEFAULT_TEXT_ENCODER)
    return MT5_FAMILY if "mt5" in name.rsplit("/", 1)[-1].lower() else T5_FAMILY


def layout_message(layout_frames: int, asked_frames: int) -> str:
    """Why a time-aligned conditioning cannot be sampled at another length, and what to do."""
    return (
        f"this conditioning's time-aligned content is laid out over {layout_frames} latent "
        f"frames, but {asked_frames} were asked for: a time-aligned conditioning keeps the "
        "duration it was laid out for, so align the prompt (or build the timeline) for the "
        "duration you want and sample without another duration"
    )


@dataclass(frozen=True)
class TimedPrompts:
    """Prompts blended frame by frame into a conditioning's own (``blending.py``).

    ``prompts`` holds one text-to-audio conditioning row per timed prompt (from ``condition``,
    each encoded alone); ``weights`` (b, 1 + k, frames) float32 are the blend weights per item
    and frame, row 0 the conditioning's own prompt, rows 1.. the timed prompts, summing to 1.
    They are shared by sampler calls of any item subset and window: items index dim 0, windows
    slice the last dim.
    """

    prompts: tuple[GeneratorConditioning, ...]
    weights: Tensor

    def __post_init__(self) -> None:
        object.__setattr__(self, "prompts", tuple(self.prompts))
        if any(p.batch_size != 1 or p.time_aligned is not None for p in self.prompts):
            raise ValueError("each timed prompt must be one text-to-audio conditioning row")
        if self.weights.dim() != 3 or self.weights.shape[1] != 1 + len(self.prompts):
            raise ValueError(
                f"blend weights must be (batch, 1 + {len(self.prompts)} prompts, frames), got "
                f"{tuple(self.weights.shape)}"
            )

    def to(self, device: torch.device | str) -> TimedPrompts:
        return TimedPrompts(tuple(p.to(device) for p in self.prompts), self.weights.to(device))


@dataclass(frozen=True)
class GeneratorConditioning:
    """What sampling needs from the prompts, one row per item.

    ``latent_lengths`` is the model's predicted length in latent frames; a caller that wants
    a fixed duration swaps it with ``dataclasses.replace``.

    ``time_aligned`` is the DiT's time-aligned input, one vector per latent frame: ``None``
    for text-to-audio (``dummy_ta_embed`` on every frame), else laid out by
    :meth:`DashengAudioGenerator.align` or :meth:`DashengAudioGenerator.timeline`. It must
    cover every item's frames (frames past the noise's are ignored, missing ones are zero as
    in the reference), so a longer length than the layout's is refused here; the pipeline
    also refuses a shorter one (``pipeline.check_layout``).
    """

    context: Tensor  # (b, l', c): adapted content, cut to the longest valid prompt
    context_mask: Tensor  # (b, l') bool
    global_duration_log: Tensor  # (b,) float32: predicted log(seconds + 1)
    latent_lengths: Tensor  # (b,) int64
    local_frames: Tensor  # (b, l') float32: predicted latent frames per token, -0.0 if padded
    time_aligned: Tensor | None = None  # (b, max(latent_lengths), c) per-frame content
    timed: TimedPrompts | None = None  # prompts blended in per frame (blend time mode)

    def __post_init__(self) -> None:
        if self.timed is not None:
            self._check_timed(self.timed)
        if self.time_aligned is None:
            return
        shape = tuple(self.time_aligned.shape)
        longest = int(self.latent_lengths.max())
        if len(shape) != 3 or shape[0] != self.batch_size:
            raise ValueError(
                f"time_aligned must be (batch={self.batch_size}, frames, channels), got {shape}"
            )
        if shape[1] < longest:
            raise ValueError(layout_message(shape[1], longest))

    def _check_timed(self, timed: TimedPrompts) -> None:
        if self.time_aligned is not None:
            raise ValueError(
                "a time-aligned conditioning cannot also blend timed prompts: use one time mode"
            )
        weights = tuple(timed.weights.shape)
        if weights[0] != self.batch_size or weights[2] < int(self.latent_lengths.max()):
            raise ValueError(
                f"blend weights {weights} must cover batch={self.batch_size} items of "
                f"{int(self.latent_lengths.max())} frames"
            )

    @property
    def batch_size(self) -> int:
        return self.context.shape[0]

    def _map(self, fn: Callable[[Tensor], Tensor]) -> GeneratorConditioning:
        """``fn`` applied to every per-item tensor; timed prompts are shared, their weights
        are per item."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        timed = values.pop("timed")
        if timed is not None:
            timed = TimedPrompts(timed.prompts, fn(timed.weights))
        return GeneratorConditioning(
            **{k: None if v is None else fn(v) for k, v in values.items()}, timed=timed
        )

    def to(self, device: torch.device | str) -> GeneratorConditioning:
        moved = self._map(lambda t: t.to(device))
        if moved.timed is None:
            return moved
        return dataclasses.replace(moved, timed=moved.timed.to(device))

    def index_select(self, index: Tensor) -> GeneratorConditioning:
        """The items at ``index`` (a 1-D int64 tensor), in that order."""
        return self._map(lambda t: t.index_select(0, index.to(t.device)))

    def expand(self, repeats: int) -> GeneratorConditioning:
        """Every item repeated ``repeats`` times consecutively (variations of each prompt)."""
        if repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {repeats}")
        return self._map(lambda t: t.repeat_interleave(repeats, dim=0))


class Conditioner(ComputeDevice, nn.Module):
    """The prompt side of the generator: text projection and content adapter (about 12 M of its
    2.2 B parameters), without the DiT.

    It holds the generator's own submodules, not copies, and the generator does not register it,
    so the checkpoint keys stay the official ones. A model manager can wrap it on its own and move
    only it to the GPU to encode prompts; :meth:`DashengAudioGenerator.condition` computes on its
    ``device``. The generator's instruction buffers (a few KB) are moved there on each call.
    """

    def __init__(self, proj: nn.Module, content_adapter: ContentAdapter) -> None:
        super().__init__()
        self.proj = proj
        self.content_adapter = content_adapter


class DashengAudioGenerator(nn.Module):
    """The generator checkpoint (``mispeech/Dasheng-AudioGen`` model.safetensors) as a module.

    ``backbone`` (the DiT, 99.4% of the parameters) and ``conditioner`` (text projection and
    content adapter) are disjoint and may live on different devices: ``condition`` runs on the
    conditioner's device, ``sample`` on the backbone's; the few top-level vectors and buffers are
    moved to where they are needed on each call.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        operations=PlainOps,
        *,
        tokenizer: T5Tokenizer | None = None,
        source_folder: Path | None = None,
    ) -> None:
        super().__init__()
        # The reference prefers a tokenizer.json shipped with the generator over the text
        # encoder's own; None means use the text encoder's.
        self.tokenizer = tokenizer
        self.source_folder = source_folder
        if config.get("special_tokens"):
            raise ValueError(
                "generator configs with special_tokens are not supported (the official "
                "Dasheng-AudioGen config has none)"
            )
        self.config = dict(config)
        content_dim = config_value(config, "content_dim")
        instruction_dim = config_value(config, "task_instruction_dim")
        self.use_zero_instruction = bool(config.get("use_zero_instruction", False))
        self.frame_resolution = float(config_value(config, "frame_resolution"))
        self.duration_offset = float(config_value(config, "duration_offset"))

        # Parameters and buffers of the top level come first in the official key order anyway.
        self.dummy_param = nn.Parameter(torch.empty(0))  # unused; kept for the key list
        self.dummy_nta_embed = nn.Parameter(torch.zeros(content_dim))
        self.dummy_ta_embed = nn.Parameter(torch.zeros(content_dim))
        seq_len = config_value(config, "instruction_seq_len")
        self.register_buffer("instruction_embedding", torch.zeros(1, seq_len, instruction_dim))
        self.register_buffer("instruction_lengths", torch.full((1,), seq_len, dtype=torch.long))

        self.backbone = LayerFusionDiT.from_config(config, operations)
        self.content_adapter = ContentAdapter.from_config(config, operations)
        self.content_encoder = nn.Module()
        self.content_encoder.text_encoder = nn.Module()
        self.content_encoder.text_encoder.proj = operations.Linear(content_dim, content_dim)
        # Not registered as a submodule: its parameters are already the generator's.
        conditioner = Conditioner(self.content_encoder.text_encoder.proj, self.content_adapter)
        object.__setattr__(self, "conditioner", conditioner)

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        operations=PlainOps,
        *,
        tokenizer: T5Tokenizer | None = None,
        source_folder: Path | None = None,
    ) -> DashengAudioGenerator:
        """Build from the checkpoint's config.json dict (and its bundled tokenizer, if any),
        layers from ``operations``; ``source_folder`` names the snapshot in messages.

        Parameters get PyTorch's default initialisation; build under ``torch.device("meta")``
        to skip it when a checkpoint will be loaded with ``load_state_dict(..., assign=True)``.
        """
        return cls(config, operations, tokenizer=tokenizer, source_folder=source_folder)

    @property
    def text_encoder_family(self) -> str:
        """``"t5"`` or ``"mt5"``: the text encoder this checkpoint was trained with."""
        return generator_text_encoder_family(self.config)

    @property
    def latent_dim(self) -> int:
        return int(config_value(self.config, "latent_dim"))

    @property
    def sample_rate(self) -> int:
        return int(config_value(self.config, "sample_rate"))

    @property
    def frame_rate(self) -> int:
        """Latent frames per second (integer division, as the reference: 16000 // 640 = 25)."""
        return self.sample_rate // int(config_value(self.config, "downsampling_ratio"))

    @property
    def dtype(self) -> torch.dtype:
        """The compute dtype (matrix weights may be stored narrower)."""
        return self.dummy_ta_embed.dtype

    @property
    def device(self) -> torch.device:
        """Where sampling runs: the DiT's device."""
        return self.backbone.device

    def instruction(
        self, batch_size: int, device: torch.device | None = None
    ) -> tuple[Tensor, Tensor]:
        """The adapter's fixed key/value sequence (b, s, c) and its validity mask (b, s), on
        ``device`` (default: the conditioner's)."""
        device = self.conditioner.device if device is None else device
        if self.use_zero_instruction:
            dim = self.instruction_embedding.shape[-1]
            instruction = torch.zeros(batch_size, 1, dim, device=device, dtype=self.dtype)
            return instruction, torch.ones(batch_size, 1, dtype=torch.bool, device=device)
        instruction = self.instruction_embedding.to(device=device, dtype=self.dtype)
        slots = torch.arange(instruction.shape[1], device=device)
        mask = slots < self.instruction_lengths[0].to(device)
        return instruction.expand(batch_size, -1, -1), mask.expand(batch_size, -1)

    def _check_text(self, t5_hidden: Tensor, t5_mask: Tensor) -> None:
        content_dim = self.dummy_ta_embed.shape[0]
        if t5_hidden.dim() != 3 or t5_hidden.shape[-1] != content_dim:
            raise ValueError(
                f"t5_hidden must be (batch, tokens, {content_dim}), got {tuple(t5_hidden.shape)}"
            )
        if tuple(t5_mask.shape) != tuple(t5_hidden.shape[:2]):
            raise ValueError(
                f"t5_mask {tuple(t5_mask.shape)} must be (batch, tokens) = "
                f"{tuple(t5_hidden.shape[:2])}"
            )
        if not bool(t5_mask.bool().any(dim=1).all()):
            raise ValueError("every prompt needs at least one valid token; a t5_mask row is empty")

    @torch.no_grad()
    def adapt_content(self, t5_hidden: Tensor, t5_mask: Tensor) -> AdapterOutput:
        """Text projection and content adapter for T5 states (b, l, c) with mask (b, l)."""
        self._check_text(t5_hidden, t5_mask)
        device = self.conditioner.device
        content = self.conditioner.proj(t5_hidden.to(device=device, dtype=self.dtype))
        instruction, instruction_mask = self.instruction(content.shape[0], device)
        return self.content_adapter(
            content, t5_mask.to(device).bool(), instruction, instruction_mask
        )

    @torch.no_grad()
    def condition(self, t5_hidden: Tensor, t5_mask: Tensor) -> GeneratorConditioning:
        """Conditioning and predicted latent lengths for a batch of encoded prompts.

        The lengths are not clamped: checking them is the caller's job.
        """
        adapted = self.adapt_content(t5_hidden, t5_mask)
        mask = t5_mask.to(adapted.content.device).bool()
        longest = int(mask.sum(dim=1).max())
        local_frames = local_latent_frames(
            adapted.local_duration_log,
            mask,
            self.frame_rate,
            self.frame_resolution,
            self.duration_offset,
        )
        return GeneratorConditioning(
            context=adapted.content[:, :longest],
            context_mask=mask[:, :longest],
            global_duration_log=adapted.global_duration_log,
            latent_lengths=global_latent_frames(
                adapted.global_duration_log, self.frame_rate, self.duration_offset
            ),
            local_frames=local_frames[:, :longest],
        )

    @torch.no_grad()
    def align(
        self, cond: GeneratorConditioning, items: Tensor | None = None, frames: int | None = None
    ) -> GeneratorConditioning:
        """The model's time-aligned path (spec 6.4b) for the items flagged in ``items`` (b,).

        ``items=None`` flags every item. A flagged item's content is laid along the frames by
        its per-token durations and becomes its time-aligned input; its cross-attention
        context becomes ``dummy_nta_embed`` with only position 0 valid. Its length is the sum
        of its token frames (``frames=None``: the reference exactly), or ``frames``, the
        tokens then stretched or squeezed in proportion (``alignment.spread_token_ends``).
        Unflagged items stay text-to-audio (``dummy_ta_embed`` on every frame, own context).
        """
        if cond.time_aligned is not None:
            raise ValueError("this conditioning is already time-aligned; align the prompt once")
        batch = cond.batch_size
        device = cond.context.device
        flags = (
            torch.ones(batch, dtype=torch.bool, device=device)
            if items is None
            else items.to(device=device, dtype=torch.bool)
        )
        if tuple(flags.shape) != (batch,):
            raise ValueError(
                f"items must be one flag per item ({batch},), got {tuple(flags.shape)}"
            )
        own = cond.local_frames.sum(dim=1).long()
        if frames is not None and frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        aligned_lengths = own if frames is None else torch.full_like(own, frames)
        lengths = torch.where(flags, aligned_lengths, cond.latent_lengths.to(device))
        num_frames = int(lengths.max())
        if frames is None:
            latent_mask = frames_mask(lengths, num_frames)
            expanded = expand_by_duration(
                cond.context, cond.context_mask, cond.local_frames, latent_mask
            )
        else:
            expanded = torch.stack(
                [
                    lay_over_range(content, mask, local, 0, frames, num_frames)
                    if flag
                    else content.new_zeros(num_frames, content.shape[-1])
                    for content, mask, local, flag in zip(
                        cond.context,
                        cond.context_mask,
                        cond.local_frames,
                        flags.tolist(),
                        strict=True,
                    )
                ]
            )
        dummy_ta = self.dummy_ta_embed.to(device=device, dtype=expanded.dtype)
        time_aligned = torch.where(flags[:, None, None], expanded, dummy_ta)

        context = cond.context.clone()
        context[flags] = self.dummy_nta_embed.to(device=device, dtype=context.dtype)
        context_mask = cond.context_mask.clone()
        context_mask[flags, 1:] = False
        # The reference cuts the context to the longest prompt of the items that use it.
        keep = context.shape[1]
        if not bool(flags.all()):
            keep = int(cond.context_mask[~flags].sum(dim=1).max())
        return GeneratorConditioning(
            context=context[:, :keep],
            context_mask=context_mask[:, :keep],
            global_duration_log=cond.global_duration_log,
            latent_lengths=lengths,
            local_frames=cond.local_frames[:, :keep],
            time_aligned=time_aligned,
        )

    @torch.no_grad()
    def timeline(
        self,
        events: GeneratorConditioning | None,
        spans: Sequence[tuple[int, int]],
        num_frames: int,
        base: GeneratorConditioning | None = None,
    ) -> GeneratorConditioning:
        """One clip of ``num_frames`` with event ``i``'s content laid over frames ``spans[i]``.

        ``events`` holds one text-to-audio conditioning row per event (from ``condition``;
        ``None`` for no events); each event's tokens share its span in proportion to their
        predicted frames. Frames no
        event covers get ``dummy_ta_embed`` (what a non-aligned frame gets); frames where
        events overlap get the mean of their contents. The cross-attention context is the
        ``base`` prompt's (one row, its content heard over the whole clip), or without one,
        ``dummy_nta_embed`` as for the model's own time-aligned items.
        """
        given = [c for c in (events, base) if c is not None]
        if any(c.time_aligned is not None for c in given):
            raise ValueError("timeline takes text-to-audio conditionings, not time-aligned ones")
        count = 0 if events is None else events.batch_size
        if len(spans) != count:
            raise ValueError(f"{len(spans)} spans for {count} event prompts")
        if base is not None and base.batch_size != 1:
            raise ValueError(f"the base prompt must be one prompt, got {base.batch_size}")
        if num_frames < 1:
            raise ValueError(f"a timeline needs at least one frame, got {num_frames}")
        channels = self.dummy_ta_embed.shape[0]
        total = torch.zeros(num_frames, channels, dtype=torch.float32, device=self.device)
        cover = torch.zeros(num_frames, 1, dtype=torch.float32, device=self.device)
        rows = []
        if events is not None:
            events = events.to(self.device)
            rows = zip(events.context, events.context_mask, events.local_frames, strict=True)
        for (start, end), (content, mask, local) in zip(spans, rows, strict=True):
            laid = lay_over_range(content, mask, local, start, end, num_frames)
            total += laid.float()
            cover[start:end] += 1.0
        dummy_ta = self.dummy_ta_embed.detach().to(self.device, torch.float32)
        time_aligned = torch.where(cover > 0, total / cover.clamp(min=1.0), dummy_ta)
        if base is None:
            context = self.dummy_nta_embed.detach().to(self.device).reshape(1, 1, channels)
            context_mask = torch.ones(1, 1, dtype=torch.bool, device=self.device)
            local_frames = torch.zeros(1, 1, device=self.device)
        else:
            base = base.to(self.device)
            context, context_mask, local_frames = base.context, base.context_mask, base.local_frames
        seconds = torch.tensor([num_frames / self.frame_rate], device=self.device)
        return GeneratorConditioning(
            context=context,
            context_mask=context_mask,
            global_duration_log=torch.log(seconds + self.duration_offset),
            latent_lengths=torch.tensor([num_frames], device=self.device),
            local_frames=local_frames,
            time_aligned=time_aligned[None].to(self.dtype),
        )

    def _check_noise(self, cond: GeneratorConditioning, noise: Tensor) -> None:
        expected = f"(batch={cond.batch_size}, latent_dim={self.latent_dim}, frames)"
        if noise.dim() != 3 or noise.shape[:2] != (cond.batch_size, self.latent_dim):
            raise ValueError(f"noise must be {expected}, got {tuple(noise.shape)}")
        shortest, longest = int(cond.latent_lengths.min()), int(cond.latent_lengths.max())
        if shortest < 1:
            raise ValueError(
                f"latent lengths must be at least 1 frame, got {shortest}; set a positive "
                "duration for that prompt"
            )
        if noise.shape[-1] < longest:
            raise ValueError(
                f"noise has {noise.shape[-1]} frames but the longest item needs {longest}; "
                "draw the noise with max(cond.latent_lengths) frames"
            )

    def step_constants(
        self,
        cond: GeneratorConditioning,
        num_frames: int,
        guidance: bool,
        unconditional_rows: int | None = None,
    ) -> StepConstants:
        """The DiT's conditioning-only terms for ``sample``, batch doubled when guiding.

        Text-to-audio feeds ``dummy_ta_embed`` on every frame as time-aligned content (one
        vector, broadcast); a time-aligned conditioning brings its own per-frame content,
        zero-padded to ``num_frames`` as the reference does. Guidance puts the unconditional
        rows first, with zero context (same mask) and zero time-aligned content: one per row,
        or one for each of the first ``unconditional_rows`` rows (blended prompts share them).
        """
        x_mask = frames_mask(cond.latent_lengths, num_frames)
        if cond.time_aligned is None:
            time_aligned = self.dummy_ta_embed.to(cond.context.device).reshape(1, 1, -1)
            time_aligned = time_aligned.expand(cond.batch_size, 1, -1)
        else:
            time_aligned = pad_frames(cond.time_aligned[:, :num_frames], num_frames)
        context, context_mask = cond.context, cond.context_mask
        if guidance:
            n = cond.batch_size if unconditional_rows is None else unconditional_rows
            time_aligned = torch.cat([torch.zeros_like(time_aligned[:n]), time_aligned])
            context = torch.cat([torch.zeros_like(context[:n]), context])
            context_mask = torch.cat([context_mask[:n], context_mask])
            x_mask = torch.cat([x_mask[:n], x_mask])
        return self.backbone.prepare(num_frames, time_aligned, context, x_mask, context_mask)

    @torch.no_grad()
    def sample(
        self,
        cond: GeneratorConditioning,
        noise: Tensor,
        steps: int = 25,
        guidance: float = 5.0,
        sway: float = -1.0,
        callback: ProgressCallback | None = None,
        *,
        init: Tensor | None = None,
        noise_mask: Tensor | None = None,
        denoise: float = 1.0,
    ) -> Tensor:
        """Latent (b, latent_dim, t) float32 from noise (b, latent_dim, t), channels-first.

        Frames past an item's length are computed like the reference does (only attention keys
        are masked), so an item's last valid frame sees its first padded one. Guidance runs
        iff ``guidance > 1``. ``callback(step, total)`` is called after every DiT
        evaluation; an exception it raises stops sampling and propagates.

        Editing: ``init`` (shaped like ``noise``) is a latent to start from; ``denoise`` < 1
        runs only the last part of the schedule (see ``sampling.denoise_schedule``), starting
        from the init noised to that level. ``noise_mask`` (b or 1, t), 1 = regenerate and
        0 = keep, keeps the init where it is 0 (``sampling.keep_known_frames``).
        """
        sigmas = denoise_schedule(steps, sway, denoise)
        cond = cond.to(self.device)
        self._check_noise(cond, noise)
        self._check_init(noise, init, noise_mask, denoise)
        noise = noise.to(self.device).float()
        velocity = self.velocity_fn(cond, noise.shape[-1], guidance)
        if init is None:
            return euler_sample(velocity, noise, sigmas, callback)
        init = init.to(self.device).float()
        start = start_sample(init, noise, sigmas[0].to(self.device))
        after_step = None
        if noise_mask is not None:
            mask = noise_mask.to(device=self.device, dtype=torch.float32)[:, None, :]
            after_step = keep_known_frames(init, noise, mask)
        return euler_sample(velocity, start, sigmas, callback, after_step)

    def velocity_fn(
        self, cond: GeneratorConditioning, num_frames: int, guidance: float
    ) -> Callable[[Tensor, Tensor], Tensor]:
        """The velocity ``sample`` integrates: guided iff ``guidance > 1``, blended per frame
        when ``cond`` holds timed prompts.

        Blending (``blending.py`` defines the weights): the prompts with a non-zero weight on
        some valid frame are evaluated in one batched DiT call, with one unconditional row per
        item shared by all of them (zero context; what it attends to is the same for every
        prompt); their conditional velocities are mixed per frame, then guided. Prompts with
        weight 0 on every valid frame are not evaluated. When a single prompt remains (weight 1
        on every valid frame) it is evaluated exactly as a plain conditioning of that prompt,
        so a whole-clip range at strength 1 reproduces plain generation bitwise, and ranges
        that cover nothing leave the base prompt's result unchanged.
        """
        guided = guidance > 1.0
        rows, weights = self._blend_rows(cond, num_frames)
        batch = cond.batch_size
        constants = self.step_constants(rows, num_frames, guided, unconditional_rows=batch)

        def velocity(x: Tensor, timestep: Tensor) -> Tensor:
            x_in = torch.cat([x] * (rows.batch_size // batch + guided))
            out = self.backbone.velocity(x_in, timestep, constants).float()
            uncond = out[:batch] if guided else None
            conditioned = out[batch:] if guided else out
            if weights is not None:
                per_prompt = conditioned.unflatten(0, (-1, batch))
                conditioned = (weights * per_prompt).sum(dim=0)
            if not guided:
                return conditioned
            return uncond + guidance * (conditioned - uncond)

        return velocity

    def _blend_rows(
        self, cond: GeneratorConditioning, num_frames: int
    ) -> tuple[GeneratorConditioning, Tensor | None]:
        """The rows to evaluate (prompt-major: all items under prompt 0, then prompt 1, ...)
        and their blend weights (p, b, 1, t), None when one prompt alone holds everywhere."""
        timed = cond.timed
        if timed is None:
            return cond, None
        weights = timed.weights[:, :, :num_frames].float()
        valid = frames_mask(cond.latent_lengths, num_frames)[:, None, :]  # (b, 1, t)
        active = ((weights != 0) & valid).any(dim=2).any(dim=0)  # (1 + k,)
        base = dataclasses.replace(cond, timed=None)
        candidates = [base, *timed.prompts]
        chosen = [i for i in range(len(candidates)) if bool(active[i])] or [0]
        per_prompt = [base if i == 0 else _rows_for_items(candidates[i], base) for i in chosen]
        if len(chosen) == 1:
            return per_prompt[0], None
        rows = concat_conditionings(per_prompt)
        picked = weights[:, chosen].transpose(0, 1)[:, :, None, :]  # (p, b, 1, t)
        return rows, picked.to(cond.context.device)

    def _check_init(
        self, noise: Tensor, init: Tensor | None, noise_mask: Tensor | None, denoise: float
    ) -> None:
        if init is None:
            if noise_mask is not None or denoise != 1.0:
                raise ValueError(
                    "noise_mask and denoise < 1 need an init latent to keep or start from"
                )
            return
        if init.dim() != 3 or init.shape[1] != self.latent_dim:
            raise ValueError(
                f"init must be (batch, latent_dim={self.latent_dim}, frames), got "
                f"{tuple(init.shape)}: is it a latent of another model size?"
            )
        if init.shape != noise.shape:
            raise ValueError(
                f"init {tuple(init.shape)} and noise {tuple(noise.shape)} must have one shape"
            )
        if noise_mask is not None:
            rows = noise_mask.shape[0] if noise_mask.dim() == 2 else -1
            if rows not in (1, noise.shape[0]) or noise_mask.shape[-1] != noise.shape[-1]:
                raise ValueError(
                    f"noise_mask must be (batch or 1, frames={noise.shape[-1]}), got "
                    f"{tuple(noise_mask.shape)}"
                )


def _rows_for_items(prompt: GeneratorConditioning, items: GeneratorConditioning):
    """A one-row prompt's conditioning repeated for every item, with the items' lengths."""
    return dataclasses.replace(
        prompt.expand(items.batch_size) if items.batch_size > 1 else prompt,
        latent_lengths=items.latent_lengths,
        global_duration_log=items.global_duration_log,
    )


def concat_conditionings(conds: Sequence[GeneratorConditioning]) -> GeneratorConditioning:
    """Text-to-audio conditionings (without timed prompts) stacked into one batch, contexts
    zero-padded (masked) to the longest."""
    longest = max(c.context.shape[1] for c in conds)

    def padded(tensor: Tensor, value) -> Tensor:
        pad = longest - tensor.shape[1]
        if tensor.dim() == 3:
            return torch.nn.functional.pad(tensor, (0, 0, 0, pad), value=value)
        return torch.nn.functional.pad(tensor, (0, pad), value=value)

    return GeneratorConditioning(
        context=torch.cat([padded(c.context, 0.0) for c in conds]),
        context_mask=torch.cat([padded(c.context_mask, False) for c in conds]),
        global_duration_log=torch.cat([c.global_duration_log for c in conds]),
        latent_lengths=torch.cat([c.latent_lengths for c in conds]),
        local_frames=torch.cat([padded(c.local_frames, 0.0) for c in conds]),
    )
