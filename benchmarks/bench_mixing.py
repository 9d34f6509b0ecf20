"""Time the mixer DSP on long synthetic mixes: metering, limiting and a three-layer mix.

    python benchmarks/bench_mixing.py --minutes 1 5

Speech-like (16 kHz mono, peaky), music-like (44.1 kHz stereo) and ambience (48 kHz mono)
layers are mixed to 48 kHz stereo at -14 LUFS with ducking and up to 6 dB of limiting.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audiogen_core.media.mixing import Ducking, Layer, MixSettings, measure, mix, normalize  # noqa: E402


def layers(minutes: float, rng: np.random.Generator) -> list[Layer]:
    def noise(rate: int, channels: int, level: float) -> np.ndarray:
        return (level * rng.standard_normal((channels, round(minutes * 60 * rate)))).astype(
            np.float32
        )

    voice = noise(16000, 1, 0.1)
    voice[:, ::400] *= 8  # sparse peaks, so the limiter has work to do
    return [
        Layer(voice, 16000, name="voice"),
        Layer(noise(44100, 2, 0.05), 44100, name="music"),
        Layer(noise(48000, 1, 0.02), 48000, pan=-0.3, name="ambience"),
    ]


def timed(label: str, function, *args) -> None:
    start = time.perf_counter()
    function(*args)
    print(f"  {label:<34} {time.perf_counter() - start:6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[0.5, 5.0])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for minutes in args.minutes:
        print(f"{minutes:g} min")
        parts = layers(minutes, rng)
        music = parts[1].waveform
        timed("measure 44.1 kHz stereo", measure, music, 44100)
        timed("normalize, limiter 6 dB", normalize, music, 44100, -9.0, -1.0, 6.0)
        settings = MixSettings(48000, target_lufs=-14.0, max_limiting_db=6.0)
        timed("mix 3 layers, ducking, limiter", mix, parts, settings, Ducking(0))


if __name__ == "__main__":
    main()
