"""Scene cuts of a video from its frames, so that a sound can start on a cut (numpy only).

A hard cut changes most of the picture from one frame to the next, whereas motion, fades and
sensor noise change it little or gradually. Each frame is block-averaged down to a small
picture (which averages the noise away), and the score of frame ``t`` is the mean absolute
difference between the small pictures of frames ``t - 1`` and ``t`` (0 = identical, 1 = black
to white). Frame ``t`` starts a new shot when its score reaches ``threshold`` and stands out
from the scores around it (``contrast`` times their mean, so steady fast motion does not cut);
of cuts closer than ``min_gap_s``, only the strongest is kept (a flash frame is one cut).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

SMALL_SIDE = 64
"""Frames are block-averaged to at most this many pixels a side before comparing."""

NEIGHBOURS = 5
"""Scores on each side of a frame that its own score must stand out from."""


def scene_cuts(
    frames: np.ndarray,
    fps: float,
    threshold: float = 0.1,
    min_gap_s: float = 0.5,
    contrast: float = 2.0,
) -> list[float]:
    """Times in seconds (frame index / fps) of the frames that start a new shot, ascending.

    ``frames`` is (T, H, W, 3) floating point in 0..1 (ComfyUI's IMAGE batch as numpy).
    Frame 0 is never a cut.
    """
    fps = _positive(fps, "fps")
    min_gap_s = _non_negative(min_gap_s, "min_gap_s")
    contrast = _non_negative(contrast, "contrast")
    if not (_is_real(threshold) and 0 < threshold <= 1):
        raise ValueError(f"threshold must be in (0, 1] (mean change of a pixel), got {threshold}")
    scores = frame_difference_scores(frames)
    candidates = []
    for t in range(1, len(scores)):
        around = np.concatenate(
            [scores[max(1, t - NEIGHBOURS) : t], scores[t + 1 : t + 1 + NEIGHBOURS]]
        )
        background = float(around.mean()) if around.size else 0.0
        if scores[t] >= threshold and scores[t] >= contrast * background:
            candidates.append(t)
    gap = min_gap_s * fps
    kept: list[int] = []
    for t in sorted(candidates, key=lambda t: (-scores[t], t)):
        if all(abs(t - other) >= gap for other in kept):
            kept.append(t)
    return [t / fps for t in sorted(kept)]


def frame_difference_scores(frames: np.ndarray) -> np.ndarray:
    """(T,) float64: mean absolute change of the small picture from the previous frame (0 at 0)."""
    small = _small_frames(_checked_frames(frames))
    scores = np.zeros(len(small))
    if len(small) > 1:
        scores[1:] = np.abs(np.diff(small, axis=0)).mean(axis=(1, 2, 3))
    return scores


def _small_frames(frames: np.ndarray) -> np.ndarray:
    """Block averages (T, h, w, 3) with h, w <= SMALL_SIDE, frame by frame to bound memory."""
    _, height, width, _ = frames.shape
    block = max(1, math.ceil(max(height, width) / SMALL_SIDE))
    h, w = max(1, height // block), max(1, width // block)
    bh, bw = min(block, height), min(block, width)
    out = np.empty((len(frames), h, w, frames.shape[-1]))
    for i, frame in enumerate(frames):
        cropped = np.asarray(frame[: h * bh, : w * bw], dtype=np.float64)
        out[i] = cropped.reshape(h, bh, w, bw, -1).mean(axis=(1, 3))
    return out


def _checked_frames(frames: object) -> np.ndarray:
    if not isinstance(frames, np.ndarray):
        raise TypeError(f"frames must be a numpy array (T, H, W, 3), got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ValueError(f"frames must be shaped (T, H, W, 3), got {frames.shape}")
    if not np.issubdtype(frames.dtype, np.floating):
        raise ValueError(
            f"frames must be floating point in 0..1, got {frames.dtype} (for 8-bit video, "
            "divide by 255 first)"
        )
    low, high = float(np.min(frames)), float(np.max(frames))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("frames contain NaN or infinite values")
    if low < -1e-3 or high > 1 + 1e-3:
        raise ValueError(f"frames must lie in 0..1, got values from {low:g} to {high:g}")
    return frames


def _positive(value: object, name: str) -> float:
    if not _is_real(value) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _non_negative(value: object, name: str) -> float:
    if not _is_real(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
