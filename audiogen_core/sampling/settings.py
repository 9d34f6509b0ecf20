"""Every sampling default and limit, in one frozen object, and the checks that enforce them.

One source for the Python API (its keyword defaults), the command line (argparse defaults and
help), the node schemas (widget defaults and bounds) and the batch jobs reader (per-line
values). Each check takes the name of what the user typed, so its error names the parameter
(``steps``), the flag (``--steps``), the node input or the jobs field (``line 3: steps``).

Wrong types (None, a string, a bool) raise TypeError; values of the right type that are out
of range, not whole or not finite raise ValueError. Python and numpy numbers are accepted.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingSettings:
    """Defaults (the official ones: 25 steps, guidance 5, sway -1) and the accepted ranges."""

    steps: int = 25
    steps_range: tuple[int, int] = (1, 200)
    """More steps stop improving the audio long before 200; a million would run for hours."""
    guidance: float = 5.0
    guidance_range: tuple[float, float] = (0.0, 20.0)
    """Classifier-free guidance scale (ComfyUI's ``cfg``); <= 1 turns guidance off."""
    sway: float = -1.0
    sway_range: tuple[float, float] = (-1.0, 1.0)
    """Sway-sampling coefficient; 0 gives uniform steps."""
    seed: int = 0
    seed_modulus: int = 2**64
    """Seeds are in [0, seed_modulus); ``random_seed`` (or None in the API) picks one."""
    random_seed: int = -1
    variations: int = 1
    variations_range: tuple[int, int] = (1, 16)
    """Variations per prompt in one call; each is a full sample in one batch."""
    max_duration_s: float = 600.0
    """Longest exact duration, in seconds (ten minutes)."""
    denoise: float = 1.0
    """How much of the schedule an edit runs, in (0, 1]; 1 starts from pure noise."""
    window_s: float = 20.0
    """Longer clips are sampled window by window (0 or None: one pass)."""
    overlap_s: float = 4.0
    """Context each window keeps from the previous one."""
    weight_dtype: str = "default"
    """How matrix weights are stored ("default": in the compute precision)."""

    def check_steps(self, value: object, name: str = "steps") -> int:
        return check_int(value, name, *self.steps_range)

    def check_variations(self, value: object, name: str = "variations") -> int:
        return check_int(value, name, *self.variations_range)

    def check_guidance(self, value: object, name: str = "guidance") -> float:
        return check_float(value, name, *self.guidance_range)

    def check_sway(self, value: object, name: str = "sway") -> float:
        return check_float(value, name, *self.sway_range)

    def check_seed(self, value: object, name: str = "seed") -> int | None:
        """A seed in [0, 2**64), or None for "pick one" (also written -1)."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be a whole number, got {_show(value)}")
        seed = int(value)
        if seed == self.random_seed:
            return None
        if not 0 <= seed < self.seed_modulus:
            raise ValueError(
                f"{name} must be between 0 and 2**64 - 1 ({self.seed_modulus - 1}), or "
                f"{self.random_seed} for a random seed; got {seed}"
            )
        return seed

    def check_duration(self, value: object, name: str = "duration_s") -> float | None:
        """An exact duration in (0, max_duration_s] seconds, or None for the predicted length."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a number of seconds or None, got {_show(value)}")
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError(f"{name} must be a finite number of seconds, got {seconds!r}")
        if not 0 < seconds <= self.max_duration_s:
            raise ValueError(
                f"{name} {seconds:g} s is out of range: use a value in "
                f"(0, {self.max_duration_s:g}] seconds, or leave it unset for the model's own "
                "prediction"
            )
        return seconds

    def check_denoise(self, value: object, name: str = "denoise") -> float:
        """A denoise strength in (0, 1]: 1 regenerates from pure noise."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a number in (0, 1], got {_show(value)}")
        number = float(value)
        if not (math.isfinite(number) and 0.0 < number <= 1.0):
            raise ValueError(
                f"{name} must be in (0, 1] (1 = regenerate from pure noise), got {number!r}"
            )
        return number

    def check_generation(self, values: object, name: str = "{}") -> None:
        """Check the shared generation arguments of ``values`` (an argparse namespace or any
        object with those attributes); ``name`` formats each one's name in errors: ``"--{}"``
        for flags, ``"line 3: {}"`` for a jobs file."""
        for field in ("steps", "guidance", "sway", "seed", "variations", "duration"):
            check = getattr(self, f"check_{field}")
            check(getattr(values, field), name.format(field))


def check_int(value: object, name: str, low: int, high: int) -> int:
    """``value`` as an int in [low, high]; numpy integers count, bools and floats do not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number, got {_show(value)}")
    number = int(value)
    if not low <= number <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {number}")
    return number


def check_float(value: object, name: str, low: float, high: float) -> float:
    """``value`` as a finite float in [low, high]; ints and numpy numbers count, bools do not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {_show(value)}")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {number!r}")
    return number


def _show(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


SETTINGS = SamplingSettings()
"""The settings every entry point reads."""
