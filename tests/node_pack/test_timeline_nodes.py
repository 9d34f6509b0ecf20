"""Timed Prompt, the Sampler's time mode, Timeline From Text and Cuts From Video on the tiny
model: a whole-clip event is its prompt exactly, errors name the node and the line, cuts are
found where the picture changes."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from comfy_standins import VideoComponents
from workflow_graph import run_node, ui_of

from nodes.generation import AudioGenSampler, AudioGenTextEncode
from nodes.timeline_nodes import (
    AudioGenCutsFromVideo,
    AudioGenTimedPrompt,
    AudioGenTimelineFromText,
)

BASE = "<|caption|> steady rain on a tin roof"
EVENT = "<|caption|> a heavy door slams <|sfx|> one slam"
SETTINGS = {"seed": 3, "steps": 2, "guidance": 5.0, "sway": -1.0, "batch_size": 1}


def encode(tiny_models, prompt):
    return run_node(AudioGenTextEncode, tiny_models["text_encoder"], tiny_models["model"], prompt)[
        0
    ]


def timed(tiny_models, conditioning, prompt=EVENT, **range_):
    settings = {"start_s": 0.0, "end_s": 0.0, "fade_s": 0.0, "strength": 1.0, **range_}
    return run_node(
        AudioGenTimedPrompt,
        tiny_models["text_encoder"],
        tiny_models["model"],
        conditioning,
        prompt,
        **settings,
    )


def sample(tiny_models, conditioning, duration_s=1.0, **extra):
    out = run_node(
        AudioGenSampler,
        tiny_models["model"],
        conditioning,
        **SETTINGS,
        duration_s=duration_s,
        **extra,
    )
    return out[0].latent


def test_a_timed_prompt_over_the_whole_clip_is_that_prompt_bitwise(tiny_models):
    base = encode(tiny_models, BASE)
    out = timed(tiny_models, base)  # start 0, end 0 = open: the whole clip
    assert ui_of(out)["text"] == (
        "1 timed prompt over the base sound\n"
        '0 s to the end: caption "a heavy door slams", sfx "one slam" (this node)',
    )
    (whole,) = out.result
    assert torch.equal(sample(tiny_models, whole), sample(tiny_models, encode(tiny_models, EVENT)))
    # A real range changes the clip only around it; the base prompt's clip differs elsewhere.
    (partial,) = timed(tiny_models, base, start_s=0.4, end_s=0.6).result
    assert not torch.equal(sample(tiny_models, partial), sample(tiny_models, base))


def test_timed_prompts_chain(tiny_models):
    base = encode(tiny_models, BASE)
    (first,) = timed(tiny_models, base, start_s=0.2, end_s=0.4).result
    out = timed(tiny_models, first, "<|caption|> a dog barks", start_s=0.6, fade_s=0.08)
    (both,) = out.result
    assert [(t.event.start_s, t.event.end_s) for t in both.timed] == [(0.2, 0.4), (0.6, None)]
    assert both.timed[1].event.fade_s == 0.08
    # The node shows the whole chain, its own event last.
    assert ui_of(out)["text"][0].splitlines() == [
        "2 timed prompts over the base sound",
        '0.2-0.4 s: caption "a heavy door slams", sfx "one slam"',
        '0.6 s to the end, fade 0.08 s: caption "a dog barks" (this node)',
    ]
    assert base.timed == ()  # the input is left as it was


@pytest.mark.parametrize(
    "range_, complaint",
    [
        ({"start_s": 2.0, "end_s": 1.0}, "before it starts"),
        ({"start_s": 1.0, "end_s": 1.2, "fade_s": 0.2}, "longer than half the event"),
    ],
)
def test_a_bad_range_is_refused_with_the_node_named(tiny_models, range_, complaint):
    with pytest.raises(ValueError, match=r"^AudioGen Timed Prompt: ") as caught:
        timed(tiny_models, encode(tiny_models, BASE), **range_)
    assert complaint in str(caught.value)


def test_an_event_past_the_clip_is_refused_by_the_sampler(tiny_models):
    (cond,) = timed(tiny_models, encode(tiny_models, BASE), start_s=2.0, end_s=3.0).result
    with pytest.raises(ValueError, match=r"^AudioGen Sampler: .*after the end of the 1 s clip"):
        sample(tiny_models, cond, duration_s=1.0)


def test_the_sampler_time_mode_aligned_lays_the_events_on_the_models_path(tiny_models):
    base = encode(tiny_models, BASE)
    (cond,) = timed(tiny_models, base, start_s=0.4, end_s=0.8).result
    blend = sample(tiny_models, cond, time_mode="blend")
    assert torch.equal(blend, sample(tiny_models, cond))  # blend is the default
    aligned = sample(tiny_models, cond, time_mode="aligned")
    assert aligned.shape == blend.shape == (1, 32, 25)
    assert not torch.equal(aligned, blend)
    # The same as the core's aligned timeline of the same events.
    from audiogen_core.pipeline import AudioGenPipeline

    pipe = AudioGenPipeline(generator=tiny_models["model"].component)
    laid_out = pipe.apply_time_mode(cond, "aligned", 1.0)
    assert torch.equal(aligned, sample(tiny_models, laid_out))


def test_aligned_mode_refuses_fades_and_a_latent(tiny_models):
    base = encode(tiny_models, BASE)
    (cond,) = timed(tiny_models, base, start_s=0.4, end_s=0.8, fade_s=0.08).result
    with pytest.raises(ValueError, match=r"^AudioGen Sampler: .*(fade|FADE)"):
        sample(tiny_models, cond, time_mode="aligned")
    latent = run_node(AudioGenSampler, tiny_models["model"], base, **SETTINGS, duration_s=1.0)[0]
    with pytest.raises(ValueError, match=r"^AudioGen Sampler: time_mode aligned does not go"):
        sample(tiny_models, cond, duration_s=0.0, latent=latent, time_mode="aligned")


TIMELINE = """\
# rain all along, a door from 0.4 to 0.6 s, a narrator from 0.8 s on
env: steady rain on a tin roof
0.4-0.6 sfx: a heavy door slams
0.8- speech: calm male narrator
"""


def from_text(tiny_models, text=TIMELINE, mode="blend", duration_s=1.2):
    return run_node(
        AudioGenTimelineFromText,
        tiny_models["text_encoder"],
        tiny_models["model"],
        text,
        mode,
        duration_s,
    )


@pytest.mark.parametrize("mode", ["blend", "aligned"])
def test_timeline_from_text_encodes_the_events_in_either_mode(tiny_models, mode):
    out = from_text(tiny_models, mode=mode)
    cond, seconds = out.result
    assert seconds == pytest.approx(1.2)
    # What the node understood: the base sound and each event with its times and views.
    assert ui_of(out)["text"][0].splitlines() == [
        f"2 events, 1.20 s, {mode} mode",
        'whole clip: env "steady rain on a tin roof"',
        '0.4-0.6 s: sfx "a heavy door slams"',
        '0.8 s to the end: speech "calm male narrator"',
    ]
    if mode == "blend":
        assert [(t.event.start_s, t.event.end_s) for t in cond.timed] == [(0.4, 0.6), (0.8, None)]
    else:
        assert cond.timed == () and cond.tensors.time_aligned.shape[1] == 30
    latent = sample(tiny_models, cond, duration_s=0.0)
    assert latent.shape[-1] == 30


def test_a_view_label_after_other_text_is_an_error_naming_the_line(tiny_models):
    # Read as caption text it would go unseen: the node fails and names the line instead.
    with pytest.raises(ValueError, match=r"line 3: .*sfx"):
        from_text(tiny_models, "env: rain\n0.4-0.6 sfx: a door\nat 0.8 sfx: a dog barks")


@pytest.mark.parametrize("slip", ["a dog barks 0.8-1.0"])  # times not at the start of the line
def test_a_line_read_as_caption_text_is_pointed_out_on_the_node(tiny_models, slip):
    out = from_text(tiny_models, f"env: rain\n0.4-0.6 sfx: a door\n{slip}")
    lines = ui_of(out)["text"][0].splitlines()
    assert lines[1:] == [
        f'whole clip: caption "{slip}", env "rain"',
        '0.4-0.6 s: sfx "a door"',
        f'check line 3: read as caption text of the whole clip ("{slip}"); '
        "an event line starts with its times: 2.0-3.0 sfx: ...",
    ]
    # The default timeline raises no such line.
    assert "check line" not in ui_of(from_text(tiny_models))["text"][0]


def test_timeline_text_errors_list_every_bad_line(tiny_models):
    text = "env: rain\n2.0-1.0 sfx: a door\n\nsfxx: a dog\n"
    with pytest.raises(ValueError, match=r"^AudioGen Timeline From Text: 2 problems") as caught:
        from_text(tiny_models, text)
    message = str(caught.value)
    assert "\nline 2: " in message and "\nline 4: " in message and "line 1" not in message


def test_a_timeline_longer_than_its_duration_names_the_line(tiny_models):
    with pytest.raises(ValueError, match=r"^AudioGen Timeline From Text: line 3: ") as caught:
        from_text(tiny_models, duration_s=0.56)
    assert "the event 0.4-0.6 s ends after the 0.56 s clip" in str(caught.value)


def shots_video(lengths: list[int], rate: int = 24) -> torch.Tensor:
    """Frames of solid shots of ``lengths`` frames each, every shot another colour, with a
    little noise and a slow drift inside each shot."""
    generator = torch.Generator().manual_seed(0)
    colours = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.2, 0.9], [0.2, 0.8, 0.3], [0.8, 0.8, 0.1]])
    shots = []
    for i, length in enumerate(lengths):
        drift = torch.linspace(0, 0.05, length).view(-1, 1, 1, 1)
        shot = colours[i % 4].view(1, 1, 1, 3) + drift
        shot = shot + 0.02 * torch.randn(length, 36, 48, 3, generator=generator)
        shots.append(shot.clamp(0, 1))
    return torch.cat(shots)


def test_cuts_are_found_where_the_shots_change():
    frames = shots_video([30, 42, 24])  # cuts at frames 30 and 72 at 24 fps: 1.25 s and 3 s
    out = run_node(AudioGenCutsFromVideo, 0.1, 0.5, 24.0, images=frames)
    assert out.result == ("1.25\n3", "0-1.25\n1.25-3\n3-", 1.25, 2)
    assert ui_of(out)["text"][0].splitlines() == [
        "2 cuts at 1.25, 3 s (96 frames at 24 fps = 4.00 s)",
        "shots: 0-1.25, 1.25-3, 3-",
    ]


def test_cuts_of_a_video_use_its_own_rate():
    video = type("Video", (), {})()
    components = VideoComponents(shots_video([25, 25]), Fraction(25), None)
    video.get_components = lambda: components
    result = run_node(AudioGenCutsFromVideo, 0.1, 0.5, 1.0, video=video).result
    assert result == ("1", "0-1\n1-", 1.0, 1)


def test_a_single_shot_has_no_cut_and_bad_inputs_are_clear_errors():
    out = run_node(AudioGenCutsFromVideo, 0.1, 0.5, 24.0, images=shots_video([40]))
    assert out.result == ("", "0-", 0.0, 0)
    assert ui_of(out)["text"][0].splitlines() == [
        "no cut found in 40 frames at 24 fps = 1.67 s",
        "lower threshold to find softer cuts",
    ]
    with pytest.raises(ValueError, match=r"^AudioGen Cuts From Video: connect the video"):
        run_node(AudioGenCutsFromVideo, 0.1, 0.5, 24.0)
