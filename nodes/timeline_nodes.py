"""Sound on a timeline: timed prompts chained onto a conditioning, a timeline typed as text,
and the scene cuts of a video as times a timeline can use."""

from __future__ import annotations

import numpy as np
import torch
from comfy_api.latest import io, ui

from audiogen_core.conditioning.blending import DEFAULT_TIME_MODE, TIME_MODES
from audiogen_core.conditioning.encoded import Conditioning
from audiogen_core.conditioning.timeline import TimelineEvent
from audiogen_core.conditioning.timeline_text import parse_timeline
from audiogen_core.media.scene_cuts import scene_cuts
from audiogen_core.pipeline import AudioGenPipeline
from audiogen_core.sampling.settings import SETTINGS

from . import common, display
from .managed import ManagedModel, prompt_encoding_memory, ready
from .video import source_inputs, video_source

ALIASES = ("timeline", "sound design", "timed prompt", "events")


def _encoding_pipe(text_encoder: ManagedModel, model: ManagedModel, prompts: list[str]):
    """Both models ready for the longest of ``prompts`` (as Text Encode), and a pipeline."""
    needed = max(prompt_encoding_memory(text_encoder, model, p) for p in prompts)
    ready(text_encoder.patcher, model.text_side, memory_required=needed)
    return AudioGenPipeline(generator=model.component, text_encoder=text_encoder.component)


class AudioGenTimedPrompt(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Timed Prompt"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenTimedPrompt",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Adds a prompt heard only from start_s to end_s to a conditioning: the sound "
                "of the conditioning's own prompt everywhere else. Chain several for several "
                "events, e.g. a steady ambience from AudioGen Text Encode and a door slam, a "
                "dog and a narrator on top.\n\n"
                "Connect the result to the AudioGen Sampler's conditioning (its time_mode "
                "picks how the events are heard; blend is the default), or to another Timed "
                "Prompt.\n\n"
                "Each timed prompt costs one extra DiT evaluation per sampling step wherever "
                "it is heard (the Sampler's memory estimate counts it). An event over the whole "
                "clip at strength 1 gives exactly the audio its prompt gives alone. In the "
                "Sampler's aligned time mode fades and strengths are refused: use blend for "
                "them. The node shows the range and how many timed prompts the conditioning "
                "now holds."
            ),
            inputs=[
                *common.encoding_inputs(),
                common.Conditioning.Input(
                    "conditioning",
                    tooltip="The base sound, heard wherever no event is: from AudioGen Text "
                    "Encode or another Timed Prompt.",
                ),
                common.prompt_input(
                    "The event's sound: from AudioGen Caption Composer, or any STRING holding "
                    "a tagged prompt that starts with <|caption|>."
                ),
                io.Float.Input(
                    "start_s",
                    default=0.0,
                    min=0.0,
                    max=SETTINGS.max_duration_s,
                    step=0.01,
                    tooltip="Where the event starts, in seconds from the start of the clip "
                    "(on the nearest 0.04 s latent frame).",
                ),
                io.Float.Input(
                    "end_s",
                    default=0.0,
                    min=0.0,
                    max=SETTINGS.max_duration_s,
                    step=0.01,
                    tooltip="Where the event ends, in seconds; 0 = open: it lasts to the end "
                    "of the clip. Must be after start_s and inside the clip the Sampler makes "
                    "(checked there, with the event named).",
                ),
                io.Float.Input(
                    "fade_s",
                    default=0.0,
                    min=0.0,
                    max=SETTINGS.max_duration_s,
                    step=0.01,
                    tooltip="Soft edges: the event fades in and out over this many seconds "
                    "inside its range (at most half of it; no fade at an edge of the clip). 0 = "
                    "hard edges.",
                ),
                io.Float.Input(
                    "strength",
                    default=1.0,
                    min=0.0,
                    max=1.0,
                    step=0.05,
                    tooltip="How much of the base sound the event replaces over its range: "
                    "1.0 = only the event, 0.5 = half and half. Where events overlap, they "
                    "share the frames.",
                ),
            ],
            outputs=[
                common.Conditioning.Output(
                    display_name="conditioning",
                    tooltip="The conditioning with this timed prompt added: for the Sampler "
                    "(time_mode blend or aligned) or another Timed Prompt.",
                ),
            ],
            **common.search_aliases(*ALIASES, "audiogen timed prompt", "regional prompt"),
        )

    @classmethod
    def execute(
        cls,
        text_encoder: ManagedModel,
        model: ManagedModel,
        conditioning: Conditioning,
        prompt: str,
        start_s: float,
        end_s: float,
        fade_s: float,
        strength: float,
    ) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            # Checked before the models are moved: a bad range fails at once.
            event = TimelineEvent(start_s, end_s or None, prompt, fade_s=fade_s, strength=strength)
            pipe = _encoding_pipe(text_encoder, model, [event.prompt])
            cond = pipe.add_timed_prompts(conditioning, event)
        info = display.timed_prompt_lines([t.event for t in cond.timed])
        return io.NodeOutput(cond, ui=ui.PreviewText("\n".join(info)))


class AudioGenTimelineFromText(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Timeline From Text"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenTimelineFromText",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Encodes a whole timeline typed as text, one event a line "
                '("2.0-3.0 sfx: a heavy door slams", "3- speech: calm narrator"; lines '
                "without times are the base sound). Problems are listed with their line "
                "numbers.\n\n"
                "Connect conditioning to the AudioGen Sampler (leave its duration_s at 0, or "
                "give the same length).\n\n"
                "A line is [TIMES] BODY. TIMES is START-END, or START- for an event that lasts "
                "to the end of the clip, in seconds (2, 2.5, .5, 2.5s) or minutes and seconds "
                "(1:02.5). BODY is VIEW: text (views caption, speech, asr, sfx, music, env), a "
                "whole tagged prompt starting with <|caption|>, or plain text (the caption). "
                "Lines with the same times are one event; lines without times are the base "
                "sound, heard over the whole clip. # starts a comment. A caption that starts "
                "with a number is written caption: 3 dogs bark.\n\n"
                "Every problem is reported at once, each as line N: what is wrong and what to "
                "write instead; an event that does not fit the clip is named by its line too. "
                "The node shows the number of events, the length and the mode. The complete "
                "definition of the format is docs/timeline.md in the pack's repository."
            ),
            inputs=[
                *common.encoding_inputs(),
                io.String.Input(
                    "timeline",
                    multiline=True,
                    default=(
                        "env: steady rain on a tin roof\n"
                        "2.0-3.0 sfx: a heavy door slams\n"
                        "3- speech: calm male narrator\n"
                        "3- asr: It was a night like any other."
                    ),
                    tooltip="One event a line: [START-END or START-] VIEW: text, a tagged "
                    "prompt, or plain text (the caption). Lines with the same times are one "
                    "event; lines without times the base sound. # starts a comment. The "
                    "node's description has the whole format.",
                ),
                io.Combo.Input(
                    "mode",
                    options=list(TIME_MODES),
                    default=DEFAULT_TIME_MODE,
                    tooltip="blend: each event's sound is blended in over its range (needs "
                    "base lines; one extra DiT evaluation per event per step). aligned: the "
                    "model's time-aligned path lays each event's words over its range.",
                ),
                io.Float.Input(
                    "duration_s",
                    default=0.0,
                    min=0.0,
                    max=SETTINGS.max_duration_s,
                    step=0.01,
                    tooltip="Length of the clip in seconds. 0 = until the latest event ends "
                    "(an open event lasting as long as the model times it), or the base "
                    "sound's predicted length when there are no events.",
                ),
            ],
            outputs=[
                common.Conditioning.Output(
                    display_name="conditioning",
                    tooltip="The encoded timeline, for the Sampler (leave its duration_s at 0, "
                    "or give the same length).",
                ),
                io.Float.Output(
                    display_name="seconds", tooltip="The length of the clip, in seconds."
                ),
            ],
            **common.search_aliases(*ALIASES, "audiogen timeline", "script"),
        )

    @classmethod
    def execute(
        cls,
        text_encoder: ManagedModel,
        model: ManagedModel,
        timeline: str,
        mode: str,
        duration_s: float,
    ) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            parsed = parse_timeline(timeline)
            prompts = [e.prompt for e in parsed.events] + [parsed.base] * (parsed.base is not None)
            pipe = _encoding_pipe(text_encoder, model, prompts)
            cond = pipe.encode_timeline(parsed, duration_s or None, time_mode=mode)
        seconds = float(cond.predicted_duration_s[0])
        info = display.timeline_lines(list(parsed.events), parsed.base, seconds, mode)
        info += display.caption_line_warnings(timeline)
        return io.NodeOutput(cond, seconds, ui=ui.PreviewText("\n".join(info)))


class AudioGenCutsFromVideo(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Cuts From Video"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenCutsFromVideo",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Finds the scene cuts of a video (frames that change most of the picture) so "
                "a sound can start on a cut: the cut times, the shots as timeline ranges, the "
                "first cut and the number of cuts. Use it for a whoosh on every change of shot "
                "or a new ambience for each scene.\n\n"
                "Connect first_cut_s to an AudioGen Timed Prompt's start_s, or copy shots into "
                "an AudioGen Timeline From Text and write a sound after each range.\n\n"
                "A frame is a cut when its change reaches threshold and stands out from the "
                "frames around it (twice their mean), so steady fast motion does not cut; fades "
                "and dissolves change the picture gradually and do not cut either. The node "
                "shows the cuts it found. Frames are compared at 64 pixels a side at most, so "
                "the video's resolution hardly matters for speed; its frames are decoded into "
                "memory."
            ),
            inputs=[
                io.Float.Input(
                    "threshold",
                    default=0.1,
                    min=0.01,
                    max=1.0,
                    step=0.01,
                    tooltip="How much of the picture must change for a cut (mean change of a "
                    "pixel, 0..1). Lower finds softer cuts.",
                ),
                io.Float.Input(
                    "min_gap_s",
                    default=0.5,
                    min=0.0,
                    max=SETTINGS.max_duration_s,
                    step=0.1,
                    tooltip="Of cuts closer than this, only the strongest is kept (a flash "
                    "is one cut).",
                ),
                *source_inputs(
                    "Frame rate of the images (ignored when a VIDEO is connected).",
                    "A whole video, e.g. from Load Video (its own frames and rate).",
                ),
            ],
            outputs=[
                io.String.Output(
                    display_name="cut_times",
                    tooltip="The cut times in seconds (frame index / fps, to the "
                    "millisecond), one a line (e.g. 2.417).",
                ),
                io.String.Output(
                    display_name="shots",
                    tooltip="Each shot as a timeline range, one a line (0-2.417, 2.417-5, "
                    "5-): write a sound after a range to make it a timeline text line.",
                ),
                io.Float.Output(
                    display_name="first_cut_s",
                    tooltip="The first cut in seconds (0 when there is none), e.g. for a "
                    "Timed Prompt's start_s.",
                ),
                io.Int.Output(display_name="count", tooltip="How many cuts were found."),
            ],
            **common.search_aliases("scene cuts", "shot detection", "sound for video", "foley"),
        )

    @classmethod
    def execute(
        cls,
        threshold: float,
        min_gap_s: float,
        fps: float,
        images: torch.Tensor | None = None,
        video=None,
    ) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            images, _, rate = video_source(fps, images, video, decode=True)
            frames = images.detach().to("cpu", torch.float32).numpy()
            cuts = scene_cuts(np.asarray(frames), float(rate), threshold, min_gap_s)
        times = [_seconds(t) for t in cuts]
        edges = ["0", *times]
        shots = [f"{a}-{b}" for a, b in zip(edges, times, strict=False)] + [f"{edges[-1]}-"]
        first = cuts[0] if cuts else 0.0
        info = display.cuts_lines(times, shots, len(frames), float(rate))
        return io.NodeOutput(
            "\n".join(times),
            "\n".join(shots),
            float(first),
            len(cuts),
            ui=ui.PreviewText("\n".join(info)),
        )


def _seconds(t: float) -> str:
    """A time with millisecond precision and no trailing zeros (2.417, 5, 0.5)."""
    return f"{t:.3f}".rstrip("0").rstrip(".")


NODES = (AudioGenTimedPrompt, AudioGenTimelineFromText, AudioGenCutsFromVideo)
