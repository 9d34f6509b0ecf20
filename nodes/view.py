"""Audio View: AUDIO -> IMAGE (waveform, spectrogram, loudness), shown in the node after a run.

The picture is ``audiogen_core.media.view``'s; this module turns widgets into its options and its
uint8 pictures into ComfyUI's IMAGE batch ([B, H, W, 3] float 0..1), which downstream image
nodes can save or put into a video.
"""

from __future__ import annotations

import numpy as np
import torch
from comfy_api.latest import io, ui

from audiogen_core.media import view

from . import common

# The panel choices as one combo: every non-empty selection, all three first.
PANEL_CHOICES = [
    "waveform, spectrogram, loudness",
    "waveform, spectrogram",
    "waveform, loudness",
    "spectrogram, loudness",
    "waveform",
    "spectrogram",
    "loudness",
]


def image_batch(pictures: np.ndarray) -> torch.Tensor:
    """uint8 pictures [B, H, W, 3] as ComfyUI's IMAGE: float32 0..1 on the CPU."""
    return torch.from_numpy(pictures).to(torch.float32) / 255.0


def parse_markers(text: str) -> list[view.Marker]:
    """One ``START:END:LABEL`` marker per non-blank line of ``text``."""
    return [view.parse_marker(line) for line in text.splitlines() if line.strip()]


class AudioGenAudioView(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Audio View"

    @classmethod
    def define_schema(cls) -> io.Schema:
        low_w, high_w = view.WIDTH_RANGE
        low_h, high_h = view.HEIGHT_RANGE
        return io.Schema(
            node_id="AudioGenAudioView",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Draws audio as a picture: waveform per channel with clipped true peaks in red, "
                "log-frequency spectrogram, short-term loudness against a target, on one time "
                "axis. Shown in the node; the IMAGE output can be saved or put into a video. "
                "Look before you listen: where the speech is, whether the music ducks under it, "
                "what clips, whether an event lands on the cut.\n\n"
                "Connect any AUDIO (Decode, Mixer, Load Audio, a video's soundtrack) to audio; "
                "save image with Save Image or put it into a video.\n\n"
                "Panels, top to bottom on one time axis in seconds. waveform: one lane per "
                "channel, the peak envelope with the RMS inside it, grid lines at 0 and -6 "
                "dBFS; where the true peak goes over 0 dBTP (clipping) the envelope is red, with "
                "a red tick at the top of the lane. spectrogram: log frequency from 20 Hz to "
                "half the sample rate, coloured by level in dB (a full-scale sine reads 0 dB), "
                "with a colour bar for the scale. loudness: short-term loudness (3 s window, "
                "EBU R128) from -60 to 0 LUFS, with the target as a dashed green line.\n\n"
                "The AudioGen Mixer draws its own picture of each layer in the mix. The same "
                "picture from the command line: python -m audiogen_core view clip.wav --out "
                "clip.png."
            ),
            inputs=[
                io.Audio.Input(
                    "audio",
                    tooltip="Any audio: any sample rate, mono or stereo; a batch gives one "
                    "picture per clip.",
                ),
                io.Int.Input(
                    "width",
                    default=1280,
                    min=low_w,
                    max=high_w,
                    step=8,
                    tooltip="Picture width in pixels (text is sized for 1280). A picture too "
                    "small for the panels asked for is refused with a message saying so.",
                ),
                io.Int.Input(
                    "height",
                    default=720,
                    min=low_h,
                    max=high_h,
                    step=8,
                    tooltip="Picture height in pixels.",
                ),
                io.Combo.Input(
                    "panels",
                    options=PANEL_CHOICES,
                    default=PANEL_CHOICES[0],
                    tooltip="Which panels to draw, top to bottom.",
                ),
                io.Float.Input(
                    "target_lufs",
                    default=-16.0,
                    min=-70.0,
                    max=0.0,
                    step=0.5,
                    tooltip="Loudness target drawn as a line on the loudness panel (-14 "
                    "streaming, -16 podcasts, -23 broadcast); 0 = no line.",
                ),
                io.String.Input(
                    "markers",
                    multiline=True,
                    default="",
                    optional=True,
                    placeholder="markers, one per line START:END:LABEL in seconds, "
                    "e.g. 2.5:4:door or 7::bang",
                    tooltip="Time ranges or events to mark, one per line as START:END:LABEL in "
                    "seconds; leave END empty for a single moment (7::bang); the label may be "
                    "left out. A marker that starts after the end of the audio is an error.",
                ),
            ],
            outputs=[
                io.Image.Output(
                    display_name="image",
                    tooltip="The picture(s) as an IMAGE batch, one per audio clip.",
                )
            ],
            is_output_node=True,
            **common.search_aliases(
                "waveform", "spectrogram", "loudness", "lufs", "audio preview", "visualize audio"
            ),
        )

    @classmethod
    def execute(
        cls,
        audio: dict,
        width: int,
        height: int,
        panels: str,
        target_lufs: float,
        markers: str = "",
    ) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            if audio is None:
                raise ValueError(
                    "the audio input is empty (a video without a soundtrack?); connect audio "
                    "that has samples."
                )
            waveform = audio["waveform"]
            count = int(waveform.shape[0])
            titles = [f"clip {i + 1} of {count}" for i in range(count)] if count > 1 else None
            pictures = view.render_batch(
                waveform,
                int(audio["sample_rate"]),
                titles=titles,
                width=width,
                height=height,
                panels=panels,
                target_lufs=target_lufs or None,
                markers=parse_markers(markers or ""),
            )
        images = image_batch(pictures)
        return io.NodeOutput(images, ui=ui.PreviewImage(images, cls=cls))


NODES = (AudioGenAudioView,)
