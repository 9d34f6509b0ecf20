"""Mixer with preview: several AUDIO layers -> one AUDIO, played back inside the node.

Design: the mixer takes up to six layer inputs of type "AUDIO,AUDIOGEN_LAYER". A plain AUDIO
goes into the mix as it is (0 dB, centre, from 0 s); an ``AudioGenMixLayer`` node in front of
it sets gain, pan, offset, trim, fades, mute and solo. This keeps the mixer small (master
settings only) while every per-layer control of ``audiogen_core.media.mixing`` stays reachable, and
a graph needs a layer node only where a layer needs adjusting.

Batches: an AUDIO batch (e.g. variations) is mixed item by item; a single-clip layer is used
for every item.

Besides the mix and its report the mixer draws each layer as it sits in the mix above the mix
itself (``view.render_stack``), so ducking and overs are visible; the picture is its last
output (appended after the 0.1.0 outputs, so saved links keep their slots) and shown in the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from comfy_api.latest import io, ui

from audiogen_core.media import mixing, view
from audiogen_core.sampling.settings import SETTINGS

from . import common, display
from .view import image_batch

Layer = io.Custom("AUDIOGEN_LAYER")
MAX_LAYERS = 6
SAMPLE_RATES = ["48000", "44100", "16000"]
CHANNELS = {"stereo": 2, "mono": 1}
PICTURE_SIZE = (1280, 720)


@dataclass(frozen=True)
class MixLayer:
    """An AUDIO and how it sits in the mix (keyword arguments of ``mixing.Layer``)."""

    audio: dict
    options: dict = field(default_factory=dict)


def _seconds(
    name: str, default: float, tooltip: str, maximum: float = SETTINGS.max_duration_s
) -> io.Float.Input:
    return io.Float.Input(name, default=default, min=0.0, max=maximum, step=0.01, tooltip=tooltip)


class AudioGenMixLayer(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Mix Layer"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AudioGenMixLayer",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Sets how one AUDIO sits in the AudioGen Mixer: gain, pan, start offset, trim, "
                "fades, mute and solo. Connect its layer output to a mixer layer input.\n\n"
                "A plain AUDIO can go into the mixer directly (0 dB, centre, from 0 s); put "
                "this node in front of it only where a layer needs adjusting."
            ),
            inputs=[
                io.Audio.Input(
                    "audio",
                    tooltip="Any audio: a decoded stem, Load Audio, a video's soundtrack. Any "
                    "sample rate, mono or stereo.",
                ),
                io.Float.Input(
                    "gain_db",
                    default=0.0,
                    min=-mixing.MAX_GAIN_DB,
                    max=mixing.MAX_GAIN_DB,
                    step=0.1,
                    tooltip="Level change in dB (-6 dB halves the amplitude).",
                ),
                io.Float.Input(
                    "pan",
                    default=0.0,
                    min=-1.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Constant-power pan: -1 hard left, 0 centre, 1 hard right (no "
                    "effect on a mono mix).",
                ),
                _seconds("offset_s", 0.0, "Where the layer starts in the mix, in seconds."),
                _seconds("trim_start_s", 0.0, "Skip this much of the start of the audio."),
                _seconds("trim_end_s", 0.0, "Stop at this position of the audio; 0 = its end."),
                _seconds("fade_in_s", 0.0, "Equal-power fade-in length.", 60.0),
                _seconds("fade_out_s", 0.0, "Equal-power fade-out length.", 60.0),
                io.Boolean.Input(
                    "mute",
                    default=False,
                    tooltip="Leave this layer out of the mix (it still drives ducking).",
                ),
                io.Boolean.Input("solo", default=False, tooltip="Hear only soloed layers."),
            ],
            outputs=[
                Layer.Output(
                    display_name="layer",
                    tooltip="The audio with its mix settings, for an AudioGen Mixer layer input.",
                )
            ],
            **common.search_aliases("audio mixer", "gain", "pan", "fade", "layer"),
        )

    @classmethod
    def execute(
        cls,
        audio: dict,
        gain_db: float,
        pan: float,
        offset_s: float,
        trim_start_s: float,
        trim_end_s: float,
        fade_in_s: float,
        fade_out_s: float,
        mute: bool,
        solo: bool,
    ) -> io.NodeOutput:
        if audio is None:
            raise ValueError(
                f"{cls.DISPLAY_NAME}: the audio input is empty (a video without a "
                "soundtrack?); connect audio that has samples."
            )
        options = {
            "gain_db": gain_db,
            "pan": pan,
            "offset_s": offset_s,
            "trim_start_s": trim_start_s,
            "trim_end_s": trim_end_s or None,
            "fade_in_s": fade_in_s,
            "fade_out_s": fade_out_s,
            "mute": mute,
            "solo": solo,
        }
        return io.NodeOutput(MixLayer(audio=audio, options=options))


def _layer_inputs(first: int, last: int, optional: bool) -> list[io.MultiType.Input]:
    return [
        io.MultiType.Input(
            f"layer_{i}",
            types=[io.Audio, Layer],
            optional=optional,
            tooltip="An AUDIO (mixed as it is) or a layer from AudioGen Mix Layer.",
        )
        for i in range(first, last + 1)
    ]


class AudioGenMixer(io.ComfyNode):
    DISPLAY_NAME = "AudioGen Mixer"

    @classmethod
    def define_schema(cls) -> io.Schema:
        duck_choices = ["off"] + [f"layer_{i}" for i in range(1, MAX_LAYERS + 1)]
        return io.Schema(
            node_id="AudioGenMixer",
            display_name=cls.DISPLAY_NAME,
            category=common.CATEGORY,
            description=(
                "Mixes up to six layers into one AUDIO at 16, 44.1 or 48 kHz, mono or stereo, "
                "with optional ducking under a voice layer, master fades, a fixed length and "
                "loudness normalisation under a true-peak ceiling. Plays the mix in the node "
                "and shows its loudness and peak.\n\n"
                "It also draws the mix: each layer as it sits in the mix (after its gain, "
                "offset, fades and ducking) in its own lane above the mix, the mix's true-peak "
                "overs in red and its short-term loudness against the target. The picture is "
                "shown in the node and is the picture output, to save or put into a video.\n\n"
                "A batch (e.g. variations) is mixed item by item; a single clip is used for "
                "every item, and each layer must hold one clip or as many as the largest batch."
            ),
            inputs=[
                *_layer_inputs(1, 1, optional=False),
                io.Combo.Input(
                    "sample_rate",
                    options=SAMPLE_RATES,
                    default="48000",
                    tooltip="Output sample rate in Hz; layers are resampled to it.",
                ),
                io.Combo.Input(
                    "channels", options=list(CHANNELS), default="stereo", tooltip="Output channels."
                ),
                _seconds(
                    "duration_s",
                    0.0,
                    "Length of the mix; 0 = until the longest layer ends. Longer pads with "
                    "silence, shorter cuts.",
                ),
                io.Float.Input(
                    "target_lufs",
                    default=-16.0,
                    min=-70.0,
                    max=0.0,
                    step=0.5,
                    tooltip="Integrated loudness to reach (EBU R128): -14 streaming, -16 "
                    "podcasts, -23 broadcast; 0 = no normalisation.",
                ),
                io.Float.Input(
                    "true_peak_dbtp",
                    default=-1.0,
                    min=-60.0,
                    max=0.0,
                    step=0.1,
                    tooltip="True-peak ceiling; it always wins over the loudness target.",
                ),
                _seconds("fade_in_s", 0.0, "Master fade-in.", 60.0),
                _seconds(
                    "fade_out_s",
                    0.0,
                    "Master fade-out (use it with a fixed duration to avoid a hard cut).",
                    60.0,
                ),
                io.Combo.Input(
                    "duck_with",
                    options=duck_choices,
                    default="off",
                    tooltip="Lower every other layer while this layer is active (e.g. music "
                    "under a voice).",
                ),
                io.Float.Input(
                    "duck_depth_db",
                    default=12.0,
                    min=0.0,
                    max=mixing.MAX_DEPTH_DB,
                    step=0.5,
                    tooltip="How far ducking lowers the other layers.",
                ),
                _seconds(
                    "duck_attack_s",
                    0.05,
                    "How fast the other layers go down when the key layer starts.",
                    5.0,
                ),
                _seconds(
                    "duck_release_s",
                    0.5,
                    "How fast the other layers come back after the key layer stops.",
                    10.0,
                ),
                io.Float.Input(
                    "limiter_db",
                    default=6.0,
                    min=0.0,
                    max=mixing.MAX_LIMITING_DB,
                    step=0.5,
                    tooltip="Most gain reduction the true-peak limiter may apply to reach the "
                    "loudness target (speech usually needs 4-8 dB at -16 LUFS). 0 = no "
                    "limiter: peaky material then stays below the target, and the report "
                    "says so.",
                ),
                *_layer_inputs(2, MAX_LAYERS, optional=True),
            ],
            outputs=[
                io.Audio.Output(display_name="audio", tooltip="The mix."),
                io.String.Output(
                    display_name="report",
                    tooltip="Loudness, true peak, length and format of the mix.",
                ),
                io.Image.Output(
                    display_name="picture",
                    tooltip="Each layer as it sits in the mix (after gain, offset and ducking) "
                    "above the mix, with true-peak overs in red and the mix's short-term "
                    "loudness; one picture per batch item.",
                ),
            ],
            is_output_node=True,
            **common.search_aliases(
                "audio mixer", "mix", "loudness", "lufs", "ducking", "sound effects", "foley"
            ),
        )

    @classmethod
    def execute(
        cls,
        sample_rate: str,
        channels: str,
        duration_s: float,
        target_lufs: float,
        true_peak_dbtp: float,
        fade_in_s: float,
        fade_out_s: float,
        duck_with: str,
        duck_depth_db: float,
        duck_attack_s: float,
        duck_release_s: float,
        limiter_db: float,
        **layers,
    ) -> io.NodeOutput:
        with common.user_errors(cls.DISPLAY_NAME):
            connected = {
                name: _as_layer(value)
                for name, value in sorted(layers.items())
                if value is not None
            }
            if not connected:
                raise ValueError("connect at least one layer.")
            names = list(connected)
            ducking = None
            if duck_with != "off":
                if duck_with not in connected:
                    raise ValueError(
                        f"duck_with is {duck_with}, but nothing is connected there: "
                        "pick a connected layer or off."
                    )
                ducking = mixing.Ducking(
                    key_index=names.index(duck_with),
                    depth_db=duck_depth_db,
                    attack_s=duck_attack_s,
                    release_s=duck_release_s,
                )
            settings = mixing.MixSettings(
                sample_rate=int(sample_rate),
                channels=CHANNELS[channels],
                duration_s=duration_s or None,
                target_lufs=target_lufs or None,
                true_peak_dbtp=true_peak_dbtp,
                fade_in_s=fade_in_s,
                fade_out_s=fade_out_s,
                max_limiting_db=limiter_db,
            )
            results = [
                mixing.mix(layers_of_item, settings, ducking, keep_layers=True)
                for layers_of_item in _items(connected)
            ]
            picture = image_batch(np.stack([_picture(r, names, settings) for r in results]))
        audio = {
            "waveform": _stack([r.waveform for r in results]),
            "sample_rate": results[0].sample_rate,
        }
        reports = [mixing.format_report(r.report) for r in results]
        report = reports[0] if len(results) == 1 else f"{reports[0]} (item 1 of {len(results)})"
        seconds = [r.report["duration_s"] for r in results]
        # The take player, each take's report under it and the pictures (web/audiogen.js).
        if len(results) > 1:
            reports = [f"take {i + 1}: {line}" for i, line in enumerate(reports)]
        shown = (
            display.takes(audio, cls, _seeds(connected, len(results)), seconds)
            | ui.PreviewText("\n".join(reports)).as_dict()
            | ui.PreviewImage(picture, cls=cls).as_dict()
        )
        return io.NodeOutput(audio, report, picture, ui=shown)


def _picture(
    result: mixing.MixResult, names: list[str], settings: mixing.MixSettings
) -> np.ndarray:
    """The layers, by input name (muted ones marked), above the mix, as a uint8 picture."""
    tracks = [
        (name + ("" if layer["audible"] else " (muted)"), waveform)
        for name, layer, waveform in zip(
            names, result.report["layers"], result.layer_waveforms, strict=True
        )
    ]
    width, height = PICTURE_SIZE
    return view.render_stack(
        tracks,
        result.waveform,
        result.sample_rate,
        width=width,
        height=height,
        target_lufs=settings.target_lufs,
        ceiling_dbtp=settings.true_peak_dbtp,
    )


def _as_layer(value) -> MixLayer:
    # A plain AUDIO dict arrives through the union input type.
    return value if isinstance(value, MixLayer) else MixLayer(audio=value)


def _items(connected: dict[str, MixLayer]) -> list[list[mixing.Layer]]:
    """One list of core layers per batch item; a one-clip layer serves every item."""
    sizes = {name: int(layer.audio["waveform"].shape[0]) for name, layer in connected.items()}
    batch = max(sizes.values())
    odd = {name: size for name, size in sizes.items() if size not in (1, batch)}
    if odd:
        raise ValueError(
            f"layer batch sizes {sizes} do not match: each layer must hold one clip or {batch}."
        )
    return [
        [
            mixing.Layer(
                waveform=layer.audio["waveform"][min(item, sizes[name] - 1)],
                sample_rate=int(layer.audio["sample_rate"]),
                name=name,
                **layer.options,
            )
            for name, layer in connected.items()
        ]
        for item in range(batch)
    ]


def _seeds(connected: dict[str, MixLayer], batch: int) -> list[int] | None:
    """The takes' seeds when exactly one layer holds one per take (AudioGen Decode sets them):
    the variations the mix is made of. With several seeded layers no one seed names a take."""
    seeded = [layer.audio["seeds"] for layer in connected.values() if layer.audio.get("seeds")]
    if len(seeded) == 1 and len(seeded[0]) == batch:
        return list(seeded[0])
    return None


def _stack(waveforms: list[torch.Tensor]) -> torch.Tensor:
    """[B, C, N] from per-item mixes, zero-padded to the longest (lengths differ rarely)."""
    longest = max(w.shape[-1] for w in waveforms)
    return torch.stack([torch.nn.functional.pad(w, (0, longest - w.shape[-1])) for w in waveforms])


NODES = (AudioGenMixLayer, AudioGenMixer)
