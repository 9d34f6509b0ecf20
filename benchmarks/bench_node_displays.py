"""Time what the node displays add to a run: the mixer's picture and the composer's token count.

    python benchmarks/bench_node_displays.py --seconds 60 --layers 3
    python benchmarks/bench_node_displays.py --tokenizer path/to/flan-t5-large/tokenizer.json

The mixer part mixes ``--layers`` 48 kHz stereo layers (a voice-like key layer ducking the
rest) with and without keeping the placed layers, then draws the stacked picture the
AudioGen Mixer shows (1280x720). The token part times what one request to the composer's
route does: the first call loads the tokenizer, later calls tokenize a ~500-token prompt.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audiogen_core.media import mixing, view  # noqa: E402
from audiogen_core.models.text_encoder import T5Tokenizer  # noqa: E402


def best_of(repeats: int, function) -> tuple[float, float]:
    """Shortest wall time and shortest CPU time (all threads) over ``repeats`` runs."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def layers(count: int, seconds: float, rate: int) -> list[mixing.Layer]:
    rng = np.random.default_rng(0)
    t = np.arange(round(seconds * rate)) / rate
    talking = (np.sin(2 * np.pi * t / 7) > 0).astype(np.float32)
    result = [
        mixing.Layer(
            (0.3 * np.sin(2 * np.pi * 220 * t) * talking)[None].repeat(2, 0).astype(np.float32),
            rate,
            name="layer_1",
        )
    ]
    for index in range(1, count):
        noise = 0.1 * rng.standard_normal((2, len(t))).astype(np.float32)
        result.append(mixing.Layer(noise, rate, name=f"layer_{index + 1}"))
    return result


def mixer(seconds: float, count: int, repeats: int) -> None:
    rate = 48000
    inputs = layers(count, seconds, rate)
    settings = mixing.MixSettings(sample_rate=rate, channels=2)
    ducking = mixing.Ducking(key_index=0)
    kept = mixing.mix(inputs, settings, ducking, keep_layers=True)
    tracks = list(zip([layer.name for layer in inputs], kept.layer_waveforms, strict=True))
    parts = {
        "mix": lambda: mixing.mix(inputs, settings, ducking),
        "mix, layers kept": lambda: mixing.mix(inputs, settings, ducking, keep_layers=True),
        "stacked picture": lambda: view.render_stack(tracks, kept.waveform, rate),
    }
    print(f"mixer: {count} layers of {seconds:g} s, 48 kHz stereo (best of {repeats})")
    for label, function in parts.items():
        wall, cpu = best_of(repeats, function)
        print(f"  {label:<20} {wall * 1000:7.0f} ms wall {cpu * 1000:7.0f} ms CPU")


def tokens(tokenizer_file: Path, repeats: int) -> None:
    prompt = "<|caption|> " + "rain on pavement, a car passing, footsteps " * 45
    wall = time.perf_counter()
    tokenizer = T5Tokenizer.from_file(tokenizer_file)
    load = time.perf_counter() - wall
    count = tokenizer.tokenize([prompt])[2][0]
    wall, _ = best_of(repeats, lambda: tokenizer.tokenize([prompt]))
    print(f"token count: load {load * 1000:.0f} ms once, then {wall * 1000:.2f} ms", end="")
    print(f" for a {count}-token prompt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--tokenizer", type=Path, help="a tokenizer.json to time the count with")
    args = parser.parse_args()
    mixer(args.seconds, args.layers, args.repeats)
    if args.tokenizer:
        tokens(args.tokenizer, args.repeats * 10)


if __name__ == "__main__":
    main()
