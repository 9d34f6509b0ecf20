"""Duration from video: frames + fps, or a VIDEO, -> seconds that end with the picture."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from comfy_standins import VideoComponents
from workflow_graph import run_node, ui_of

from nodes.video import AudioGenDurationFromVideo


class OldVideo:
    """A VIDEO of ComfyUI 0.3.x: only get_components()."""

    def __init__(self, frames: int, rate: Fraction) -> None:
        self.components = VideoComponents(torch.zeros(frames, 4, 4, 3), rate, None)

    def get_components(self) -> VideoComponents:
        return self.components


class NewVideo:
    """A VIDEO of later ComfyUI: frame count and rate without decoding."""

    def get_frame_count(self) -> int:
        return 1001

    def get_frame_rate(self) -> Fraction:
        return Fraction(30000, 1001)

    def get_components(self):
        raise AssertionError("decoding every frame just to count them")


def measure(**inputs) -> dict:
    return run_node(AudioGenDurationFromVideo, **{"fps": 24.0, **inputs})


def test_frames_and_fps_give_the_seconds_of_the_picture():
    out = measure(images=torch.zeros(30, 8, 8, 3), fps=24.0)
    assert out.result == (1.25, 30, 24.0)
    assert ui_of(out)["text"] == ("30 frames at 24 fps = 1.250 s",)


@pytest.mark.parametrize(
    "video, seconds, frames",
    [
        (OldVideo(50, Fraction(25)), 2.0, 50),
        (NewVideo(), 1001 / (30000 / 1001), 1001),
    ],
)
def test_a_video_uses_its_own_frame_count_and_rate(video, seconds, frames):
    result = measure(video=video, images=torch.zeros(3, 8, 8, 3), fps=1.0).result
    assert result[0] == pytest.approx(seconds, abs=1e-12)
    assert result[1] == frames


@pytest.mark.parametrize(
    "inputs, complaint",
    [
        ({}, "connect the video's frames"),
        ({"images": torch.zeros(0, 8, 8, 3)}, "at least one frame"),
        ({"images": torch.zeros(24 * 601, 1, 1, 3)}, "at most 600 s"),
    ],
)
def test_unusable_video_inputs_are_clear_errors(inputs, complaint):
    with pytest.raises(ValueError, match=r"^AudioGen Duration From Video: ") as caught:
        measure(**inputs)
    assert complaint in str(caught.value)
