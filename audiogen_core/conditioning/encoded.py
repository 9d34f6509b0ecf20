"""Encoded conditionings: what the sampler conditions on, and what a front end shows of it.

Two levels, one name each:

* :class:`Conditioning` (the public type ``AudioGenPipeline.encode_prompt`` returns and the
  nodes pass along as ``AUDIOGEN_CONDITIONING``): the prompts, their token counts, the frame
  rate, the timed prompts (:class:`TimedPrompt`) and, in ``tensors``, the tensors;
* :class:`ConditioningTensors`: those tensors, one row per item, as the sampler uses them,
  with the timed prompts' rows and blend weights (:class:`TimedPromptTensors`) once sampling
  has fixed the clip's length.

:class:`TextStates` is the text encoder's output the generator conditions on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from ..models.generator import DashengAudioGenerator
from .timeline import TimelineEvent


def layout_message(layout_frames: int, asked_frames: int) -> str:
    """Why a time-aligned conditioning cannot be sampled at another length, and what to do."""
    return (
        f"this conditioning's time-aligned content is laid out over {layout_frames} latent "
        f"frames, but {asked_frames} were asked for: a time-aligned conditioning keeps the "
        "duration it was laid out for, so align the prompt (or build the timeline) for the "
        "duration you want and sample without another duration"
    )


@dataclass(frozen=True)
class TimedPromptTensors:
    """Prompts blended frame by frame into a conditioning's own (``blending.py``).

    ``prompts`` holds one text-to-audio conditioning row per timed prompt (each encoded alone);
    ``weights`` (b, 1 + k, frames) float32 are the blend weights per item and frame, row 0 the
    conditioning's own prompt, rows 1.. the timed prompts, summing to 1. They are shared by
    sampler calls of any item subset and window: items index dim 0, windows slice the last dim.
    """

    prompts: tuple[ConditioningTensors, ...]
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

    def to(self, device: torch.device | str) -> TimedPromptTensors:
        return TimedPromptTensors(
            tuple(p.to(device) for p in self.prompts), self.weights.to(device)
        )


@dataclass(frozen=True)
class ConditioningTensors:
    """What sampling needs from the prompts, one row per item.

    ``latent_lengths`` is the model's predicted length in latent frames; a caller that wants
    a fixed duration swaps it with :meth:`with_lengths`.

    ``time_aligned`` is the DiT's time-aligned input, one vector per latent frame: ``None``
    for text-to-audio (``dummy_ta_embed`` on every frame), else laid out by ``alignment.align``
    or ``alignment.lay_out_timeline``. It must cover every item's frames (frames past the
    noise's are ignored, missing ones are zero as in the reference), so a longer length than
    the layout's is refused here, and :meth:`with_lengths` refuses a shorter one.
    """

    context: Tensor  # (b, l', c): adapted content, cut to the longest valid prompt
    context_mask: Tensor  # (b, l') bool
    global_duration_log: Tensor  # (b,) float32: predicted log(seconds + 1)
    latent_lengths: Tensor  # (b,) int64
    local_frames: Tensor  # (b, l') float32: predicted latent frames per token, -0.0 if padded
    time_aligned: Tensor | None = None  # (b, max(latent_lengths), c) per-frame content
    timed: TimedPromptTensors | None = None  # prompts blended in per frame (blend time mode)

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

    def _check_timed(self, timed: TimedPromptTensors) -> None:
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

    def _map(self, fn: Callable[[Tensor], Tensor]) -> ConditioningTensors:
        """``fn`` applied to every per-item tensor; timed prompts are shared, their weights
        are per item."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        timed = values.pop("timed")
        if timed is not None:
            timed = TimedPromptTensors(timed.prompts, fn(timed.weights))
        return ConditioningTensors(
            **{k: None if v is None else fn(v) for k, v in values.items()}, timed=timed
        )

    def to(self, device: torch.device | str) -> ConditioningTensors:
        moved = self._map(lambda t: t.to(device))
        if moved.timed is None:
            return moved
        return dataclasses.replace(moved, timed=moved.timed.to(device))

    def index_select(self, index: Tensor) -> ConditioningTensors:
        """The items at ``index`` (a 1-D int64 tensor), in that order."""
        return self._map(lambda t: t.index_select(0, index.to(t.device)))

    def expand(self, repeats: int) -> ConditioningTensors:
        """Every item repeated ``repeats`` times consecutively (variations of each prompt)."""
        if repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {repeats}")
        return self._map(lambda t: t.repeat_interleave(repeats, dim=0))

    def with_lengths(self, lengths: Tensor) -> ConditioningTensors:
        """These items sampled at ``lengths`` frames; a time-aligned layout only at its own."""
        if self.time_aligned is not None:
            laid_out = self.latent_lengths.to(lengths.device)
            if not torch.equal(laid_out, lengths):
                changed = int((laid_out != lengths).nonzero()[0, 0])
                raise ValueError(layout_message(int(laid_out[changed]), int(lengths[changed])))
        return dataclasses.replace(self, latent_lengths=lengths)


def condition(
    generator: DashengAudioGenerator, t5_hidden: Tensor, t5_mask: Tensor
) -> ConditioningTensors:
    """The text-to-audio conditioning of encoded prompts (the generator's conditioner)."""
    output = generator.condition(t5_hidden, t5_mask)
    return ConditioningTensors(**{f.name: getattr(output, f.name) for f in fields(output)})


def concat_conditionings(conds: Sequence[ConditioningTensors]) -> ConditioningTensors:
    """Text-to-audio conditionings (without timed prompts) stacked into one batch, contexts
    zero-padded (masked) to the longest."""
    longest = max(c.context.shape[1] for c in conds)

    def padded(tensor: Tensor, value) -> Tensor:
        pad = longest - tensor.shape[1]
        if tensor.dim() == 3:
            return torch.nn.functional.pad(tensor, (0, 0, 0, pad), value=value)
        return torch.nn.functional.pad(tensor, (0, pad), value=value)

    return ConditioningTensors(
        context=torch.cat([padded(c.context, 0.0) for c in conds]),
        context_mask=torch.cat([padded(c.context_mask, False) for c in conds]),
        global_duration_log=torch.cat([c.global_duration_log for c in conds]),
        latent_lengths=torch.cat([c.latent_lengths for c in conds]),
        local_frames=torch.cat([padded(c.local_frames, 0.0) for c in conds]),
    )


@dataclass(frozen=True)
class TimedPrompt:
    """A prompt held over a time range (blend time mode): the event and its own encoding."""

    event: TimelineEvent
    tensors: ConditioningTensors  # one row, encoded alone, on the CPU
    token_count: int


@dataclass
class Conditioning:
    """Encoded prompts: what the sampler needs, plus what a front end wants to show.

    ``timed`` prompts (``AudioGenPipeline.add_timed_prompts``) are blended into every item over
    their time ranges at sampling time (``blending.py``), the items' own prompts filling the
    rest.
    """

    prompts: list[str]
    tensors: ConditioningTensors  # kept on the CPU between stages
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
    hidden: Tensor  # (B, tokens, d_model), on the text encoder's device
    mask: Tensor  # (B, tokens) bool
    token_counts: list[int]
