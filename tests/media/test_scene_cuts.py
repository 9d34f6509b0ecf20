"""Scene cuts from synthetic videos: hard cuts found at their frames despite noise and motion;
fades, dissolves and noise alone cut nothing; the minimum gap; input errors."""

from __future__ import annotations

import numpy as np
import pytest

from audiogen_core.media.scene_cuts import frame_difference_scores, scene_cuts

FPS = 25.0
HEIGHT, WIDTH = 72, 128


def _shot_picture(rng: np.random.Generator, extra_width: int = 0) -> np.ndarray:
    """A smooth random picture (a colour pattern), ``extra_width`` wider for panning."""
    y, x = np.mgrid[0:HEIGHT, 0 : WIDTH + extra_width] / 64.0
    picture = np.empty((HEIGHT, WIDTH + extra_width, 3))
    for c in range(3):
        a, b, p, q = rng.uniform(0, 6, size=4)
        picture[..., c] = 0.5 + 0.4 * np.sin(a * x + p) * np.cos(b * y + q)
    return picture


def _video(cut_frames, total, noise=0.04, pan=1, seed=0):
    """Shots separated by hard cuts at ``cut_frames``; each shot pans ``pan`` pixels a frame."""
    rng = np.random.default_rng(seed)
    bounds = [0, *cut_frames, total]
    frames = []
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        picture = _shot_picture(rng, pan * (end - start))
        frames += [picture[:, t * pan : t * pan + WIDTH] for t in range(end - start)]
    video = np.stack(frames) + rng.normal(0, noise, size=(total, HEIGHT, WIDTH, 3))
    return np.clip(video, 0, 1).astype(np.float32)


def test_hard_cuts_are_found_at_their_frames():
    cuts = [30, 62, 100]
    video = _video(cuts, 130)
    assert scene_cuts(video, FPS) == [30 / FPS, 62 / FPS, 100 / FPS]
    # Another frame rate only changes the times.
    assert scene_cuts(video, 30.0) == [30 / 30, 62 / 30, 100 / 30]


def test_fades_dissolves_and_noise_do_not_cut():
    rng = np.random.default_rng(1)
    a, b = _shot_picture(rng)[:, :WIDTH], _shot_picture(rng)[:, :WIDTH]
    ramp = np.linspace(0, 1, 25)[:, None, None, None]
    still = np.repeat(a[None], 20, axis=0)
    fade_out = a[None] * (1 - ramp)
    fade_in = b[None] * ramp
    dissolve = a[None] * (1 - ramp) + b[None] * ramp
    video = np.concatenate([still, fade_out, fade_in, dissolve[::-1], dissolve])
    video = np.clip(video + rng.normal(0, 0.04, size=video.shape), 0, 1).astype(np.float32)
    assert scene_cuts(video, FPS) == []
    # Strong noise on a still picture, and steady fast panning, cut nothing either.
    noisy = np.clip(still + rng.normal(0, 0.15, size=still.shape), 0, 1)
    assert scene_cuts(noisy, FPS) == []
    assert scene_cuts(_video([], 60, pan=8), FPS) == []


def test_steady_fast_motion_above_the_threshold_does_not_cut():
    video = _video([], 60, pan=24)
    assert frame_difference_scores(video)[1:].min() > 0.1  # every frame passes the threshold
    assert scene_cuts(video, FPS) == []
    assert scene_cuts(video, FPS, contrast=0) != []  # only the contrast rule keeps it out


def test_minimum_gap_keeps_the_strongest_of_close_cuts():
    video = _video([30, 35], 70, seed=3)
    scores = frame_difference_scores(video)
    assert scene_cuts(video, FPS, min_gap_s=0.0) == [30 / FPS, 35 / FPS]
    stronger = 30 if scores[30] > scores[35] else 35
    assert scene_cuts(video, FPS, min_gap_s=0.5) == [stronger / FPS]


def test_threshold_and_scores():
    video = _video([20], 40)
    scores = frame_difference_scores(video)
    assert scores.shape == (40,) and scores[0] == 0
    assert scores[20] > 3 * np.delete(scores, 20).max()
    assert scene_cuts(video, FPS, threshold=min(1.0, float(scores[20]) + 0.01)) == []
    assert scene_cuts(video[:1], FPS) == []


@pytest.mark.parametrize(
    ("frames", "kwargs", "match"),
    [
        (np.zeros((4, 8, 8, 3), dtype=np.uint8), {}, "divide by 255"),
        (np.zeros((4, 8, 8)), {}, r"\(T, H, W, 3\)"),
        (np.zeros((0, 8, 8, 3)), {}, r"\(T, H, W, 3\)"),
        (np.full((4, 8, 8, 3), 2.0), {}, "0..1"),
        (np.full((4, 8, 8, 3), np.nan), {}, "NaN"),
        (np.zeros((4, 8, 8, 3)), {"fps": 0}, "fps"),
        (np.zeros((4, 8, 8, 3)), {"fps": float("inf")}, "fps"),
        (np.zeros((4, 8, 8, 3)), {"threshold": 0}, "threshold"),
        (np.zeros((4, 8, 8, 3)), {"min_gap_s": -1}, "min_gap_s"),
    ],
)
def test_input_errors(frames, kwargs, match):
    with pytest.raises(ValueError, match=match):
        scene_cuts(frames, **{"fps": FPS, **kwargs})


def test_frames_must_be_an_array():
    with pytest.raises(TypeError, match="numpy array"):
        scene_cuts([[0.0]], FPS)
