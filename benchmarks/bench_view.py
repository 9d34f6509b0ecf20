"""Time pictures of audio: a stereo clip drawn at 1280x720 with every panel, part by part.

    python benchmarks/bench_view.py --seconds 60 600 --rate 48000

Wall time is what a user waits; CPU time (all threads) shows the work when other processes
share the machine. The clip is music-like (tones over noise with a slow swell, peaks near full
scale, one clipped second), so the true-peak, spectrogram and loudness paths all do their full
work.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audiogen_core.media import view  # noqa: E402
from audiogen_core.media.loudness import as_array, short_term_lufs, true_peak_envelope  # noqa: E402


def clip(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * t / 20)
    tones = sum(0.12 * np.sin(2 * np.pi * hz * t) for hz in (110, 440, 1320))
    audio = tones + 0.1 * swell * rng.standard_normal((2, len(t)))
    middle = len(t) // 2
    audio[:, middle : middle + rate] *= 4
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def best_of(repeats: int, function) -> tuple[float, float]:
    """Shortest wall time and shortest CPU time (all threads) over ``repeats`` runs."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def report(audio: np.ndarray, rate: int, repeats: int) -> None:
    seconds = audio.shape[1] / rate
    parts = {
        "whole picture, text": lambda: view.render(audio, rate, title="clip.wav"),
        "whole picture, no text": lambda: view.render(audio, rate, text=False),
        "  true-peak envelope": lambda: true_peak_envelope(audio, rate),
        "  spectrogram panel alone": lambda: view.render(
            audio, rate, panels=["spectrogram"], text=False
        ),
        "  short-term loudness": lambda: short_term_lufs(
            audio, rate, np.linspace(0, seconds, 1180)
        ),
        "  validation (float64 copy)": lambda: as_array(audio),
    }
    print(f"  {'':<30} {'wall':>7}    {'CPU':>7}")
    for label, function in parts.items():
        wall, cpu = best_of(repeats, function)
        print(f"  {label:<30} {wall * 1000:7.0f} ms {cpu * 1000:7.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[60.0])
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for seconds in args.seconds:
        print(f"{seconds:g} s stereo at {args.rate} Hz, 1280x720 (best of {args.repeats})")
        report(clip(seconds, args.rate, rng), args.rate, args.repeats)


if __name__ == "__main__":
    main()
