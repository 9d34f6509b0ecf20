"""Draw the pack's registry icon, docs/images/icon.png: a waveform on a rounded square.

    python tools/draw_icon.py

Drawn from code so the icon can be remade at another size or colour without an editor.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 256
BACKGROUND = (24, 28, 44)
BARS = (94, 200, 255)
ACCENT = (255, 180, 84)
OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "icon.png"


def draw(size: int = SIZE) -> Image.Image:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pen.rounded_rectangle((0, 0, size - 1, size - 1), radius=size // 6, fill=BACKGROUND)
    bars, margin = 15, size // 8
    pitch = (size - 2 * margin) / bars
    for i in range(bars):
        # A swelling envelope with a beat, so it reads as sound at a glance.
        x = i / (bars - 1)
        height = (0.15 + 0.85 * math.sin(math.pi * x) ** 2) * (0.6 + 0.4 * abs(math.cos(5 * x)))
        half = height * (size / 2 - margin)
        left = margin + i * pitch + pitch * 0.2
        colour = ACCENT if i == bars // 2 else BARS
        pen.rounded_rectangle(
            (left, size / 2 - half, left + pitch * 0.6, size / 2 + half),
            radius=pitch * 0.3,
            fill=colour,
        )
    return image


def main() -> int:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    draw().save(OUT, optimize=True)
    print(f"wrote {OUT.relative_to(OUT.parents[2])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
