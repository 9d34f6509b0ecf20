"""Duration from video: how many seconds of audio a picture needs to end with it exactly."""

from __future__ import annotations

from fractions import Fraction

import torch
from comfy_api.latest import io, ui

from audiogen_core.sampling.settings import SETTINGS

from . import common


def source_inputs(fps_tooltip: str, video_tooltip: str) -> list[io.Input]:
    """The two ways to give a video: its frames (IMAGE batch) with a frame rate, or a VIDEO."""
    return [
        io.Float.Input("fps", default=24.0, min=0.01, max=1000.0, step=0.001, tooltip=fps_tooltip),
        io.Image.Input(
            "images",
            optional=True,
            tooltip="The video's frames, e.g. images from Get Video Components.",
        ),
        io.Video.Input("video", optional=True, tooltip=video_tooltip),
    ]


def video_source(
    fps: float, images: torch.Tensor | None, video, decode: bool
) -> tuple[torch.Tensor | None, int, Fraction]:
    """``(frames, frame count, rate)`` of the connected source, checked.

    ``frames`` is the IMAGE batch when ``decode`` (a VIDEO is decoded for it); otherwise None
    where ComfyUI can count a VIDEO's frames without decoding them.
    """
    if video is not None:
        if not decode and hasattr(video, "get_frame_count") and hasattr(video, "get_frame_rate"):
            frames, count, rate = (
                None,
                int(video.get_frame_count()),
                Fraction(video.get_frame_rate()),
            )
        else:  # older ComfyUI (or pixels wanted): decode the frames
            components = video.get_components()
            frames, rate = components.images, Fraction(components.frame_rate)
            count = int(frames.shape[0])
    elif images is not None:
        frames, count, rate = images, int(images.shape[0]), Fraction(fps)
    else:
        raise ValueError("connect the video's frames (images, with fps) or a VIDEO.")
    if count < 1 or rate <= 0:
        raise ValueError(
            f"the video has {count} frames at {float(rate):g} fps; it needs at least one frame "
            "and a positive frame rate."
        )
    return frames, count, rate


class AudioGenDurationFromVideo(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Duration From Video"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenDurationFromVideo",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Seconds of audio that end exactly with a video: frame count / fps, from "
                "frames (IMAGE batch) + fps, or from a VIDEO. Connect seconds to the "
                "Sampler's duration_s; Decode then returns round(seconds x 16000) samples, "
                "i.e. the picture's length to within half a sample (convert the widget to an "
                "input first on frontends that need it)."
            ),
            inputs=source_inputs(
                "Frame rate of the images (ignored when a VIDEO is connected). Use the same "
                "value in Create Video.",
                "A whole video, e.g. from Load Video; its own frame count and rate are used.",
            ),
            outputs=[
                io.Float.Output(
                    display_name="seconds",
                    tooltip="frame_count / fps, for the Sampler's duration_s.",
                ),
                io.Int.Output(display_name="frame_count", tooltip="Number of video frames."),
                io.Float.Output(
                    display_name="fps",
                    tooltip="Frame rate used (the VIDEO's own when a VIDEO is connected).",
                ),
            ],
            **common.search_aliases("video length", "sound for video", "foley", "duration"),
        )

    @classmethod
    def execute(cls, fps: float, images: torch.Tensor | None = None, video=None) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            _, frames, rate = video_source(fps, images, video, decode=False)
            seconds = float(frames / rate)
            if seconds > SETTINGS.max_duration_s:
                raise ValueError(
                    f"the video lasts {seconds:.2f} s; AudioGen makes at most "
                    f"{SETTINGS.max_duration_s:g} s in one run: trim the video or split it."
                )
        info = f"{frames} frames at {float(rate):g} fps = {seconds:.3f} s"
        return io.NodeOutput(seconds, frames, float(rate), ui=ui.PreviewText(info))


NODES = (AudioGenDurationFromVideo,)
