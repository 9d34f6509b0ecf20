"""Ranges of the generation arguments and the checks that enforce them.

One source for the core API, the command line and the nodes: the nodes take their widget
bounds from these constants, the pipeline checks its arguments with these functions, and the
command line runs the same checks before loading any model, naming the flag instead of the
parameter (``name="--steps"``).

Wrong types (None, a string, a bool) raise TypeError; values of the right type that are out
of range, not whole or not finite raise ValueError. Python and numpy numbers are accepted.
"""

from __future__ import annotations

import math
import numbers

MAX_STEPS = 200
"""More steps stop improving the audio long before this; 1000000 would run for hours."""
MAX_VARIATIONS = 16
"""Variations per call; each is a full sample in one batch, so memory grows with it."""
GUIDANCE_RANGE = (0.0, 20.0)
"""Classifier-free guidance scale; <= 1 turns guidance off, 5 is recommended."""
SWAY_RANGE = (-1.0, 1.0)
"""Sway-sampling coefficient; 0 gives uniform steps, -1 is recommended."""
SEED_MODULUS = 2**64
"""Seeds are in [0, SEED_MODULUS); -1 (or None in the API) asks for a random seed."""
RANDOM_SEED = -1
MAX_DURATION_S = 600.0
"""Longest exact duration, in seconds (ten minutes)."""


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


def check_steps(value: object, name: str = "steps") -> int:
    return check_int(value, name, 1, MAX_STEPS)


def check_variations(value: object, name: str = "variations") -> int:
    return check_int(value, name, 1, MAX_VARIATIONS)


def check_guidance(value: object, name: str = "guidance") -> float:
    return check_float(value, name, *GUIDANCE_RANGE)


def check_sway(value: object, name: str = "sway") -> float:
    return check_float(value, name, *SWAY_RANGE)


def check_seed(value: object, name: str = "seed") -> int | None:
    """A seed in [0, 2**64), or None for "pick one" (also written -1)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number, got {_show(value)}")
    seed = int(value)
    if seed == RANDOM_SEED:
        return None
    if not 0 <= seed < SEED_MODULUS:
        raise ValueError(
            f"{name} must be between 0 and 2**64 - 1 ({SEED_MODULUS - 1}), or -1 for a random "
            f"seed; got {seed}"
        )
    return seed


def check_duration(value: object, name: str = "duration_s") -> float | None:
    """An exact duration in (0, MAX_DURATION_S] seconds, or None for the predicted length."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number of seconds or None, got {_show(value)}")
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"{name} must be a finite number of seconds, got {seconds!r}")
    if not 0 < seconds <= MAX_DURATION_S:
        raise ValueError(
            f"{name} {seconds:g} s is out of range: use a value in (0, {MAX_DURATION_S:g}] "
            "seconds, or leave it unset for the model's own prediction"
        )
    return seconds


def _show(value: object) -> str:
    return f"{value!r} ({type(value).__name__})"


# The limits every entry point shares, by argument name: the command line's flags are
# ``--<name>`` (``--steps``), and its batch runner takes the same defaults.
_ARGUMENT_CHECKS = (
    ("steps", check_steps),
    ("guidance", check_guidance),
    ("sway", check_sway),
    ("seed", check_seed),
    ("variations", check_variations),
    ("duration", check_duration),
)


def check_flags(args: object) -> None:
    """Check an argparse namespace's shared arguments; each error names its flag (``--steps``).

    Raises TypeError or ValueError, as the checks above do.
    """
    for name, check in _ARGUMENT_CHECKS:
        check(getattr(args, name), f"--{name}")
