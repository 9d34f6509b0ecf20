"""Property-based checks (hypothesis) of the prompt rules and the argument limits.

The properties: composing views and parsing the result gives the views back; no text, however
odd, makes the prompt functions raise anything but ValueError; every argument value is either
accepted by the core and the command line alike or refused by both, the command line naming
its flag. Examples are capped so the whole file runs in seconds.
"""

from __future__ import annotations

import io
import math
import subprocess
import sys
from contextlib import redirect_stderr
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiogen_core.cli import main as cli
from audiogen_core.conditioning.prompt import (
    VIEWS,
    PromptViews,
    compose_prompt,
    compose_views,
    parse_prompt,
    validate_prompt,
)
from audiogen_core.sampling.settings import SETTINGS

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# View text as a user might type it: any characters except the two tag delimiters.
view_text = st.text(max_size=40).filter(lambda t: "<|" not in t and "|>" not in t)
# Every code point, lone surrogates included (what undecodable command-line bytes become).
any_character = st.characters(exclude_categories=())
# Text biased towards prompt syntax, to reach the tag rules as well as plain text.
prompt_like = st.lists(
    st.one_of(
        st.sampled_from([f"<|{view}|>" for view in VIEWS] + ["<|", "|>", "<|x|>", " "]),
        st.text(max_size=8),
    ),
    max_size=12,
).map("".join)


@FAST
@given(st.fixed_dictionaries({view: view_text for view in VIEWS}))
def test_compose_then_parse_gives_the_views_back(views):
    if not views["caption"].strip():
        with pytest.raises(ValueError, match="caption"):
            compose_views(**views)
        return
    prompt = compose_views(**views)
    assert validate_prompt(prompt) == prompt
    parsed = parse_prompt(prompt)
    assert parsed == PromptViews(**{view: text.strip() for view, text in views.items()})
    assert parsed.compose() == prompt


@FAST
@given(st.one_of(prompt_like, st.text(max_size=60), st.text(any_character, max_size=20)))
def test_any_text_is_accepted_or_refused_with_a_value_error(text):
    for check in (validate_prompt, parse_prompt, lambda t: compose_prompt(prompt=t)):
        try:
            check(text)
        except ValueError as error:
            assert str(error)
    try:
        views = parse_prompt(text)
    except ValueError:
        with pytest.raises(ValueError):
            validate_prompt(text)
    else:
        # What the parser accepts, validation accepts unchanged, and the views survive a
        # round trip through the canonical order.
        assert validate_prompt(text) == text.strip()
        assert parse_prompt(views.compose()) == views


@FAST
@given(st.text(any_character, max_size=20), st.sampled_from(VIEWS))
def test_any_view_text_is_composed_or_refused_with_a_value_error(text, view):
    try:
        compose_views(**{"caption": "a scene", view: text})
    except ValueError as error:
        assert str(error)


numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)

ARGUMENTS = {
    # flag: (core check, how argparse reads the value)
    "--steps": (SETTINGS.check_steps, int),
    "--variations": (SETTINGS.check_variations, int),
    "--seed": (SETTINGS.check_seed, int),
    "--guidance": (SETTINGS.check_guidance, float),
    "--sway": (SETTINGS.check_sway, float),
    "--duration": (SETTINGS.check_duration, float),
}


def _in_range(flag: str, value: float) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return {
        "--steps": lambda v: 1 <= v <= SETTINGS.steps_range[1],
        "--variations": lambda v: 1 <= v <= SETTINGS.variations_range[1],
        "--seed": lambda v: v == -1 or 0 <= v < 2**64,
        "--guidance": lambda v: SETTINGS.guidance_range[0] <= v <= SETTINGS.guidance_range[1],
        "--sway": lambda v: SETTINGS.sway_range[0] <= v <= SETTINGS.sway_range[1],
        "--duration": lambda v: 0 < v <= SETTINGS.max_duration_s,
    }[flag](value)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(flag=st.sampled_from(sorted(ARGUMENTS)), value=numbers)
def test_command_line_and_core_agree_on_every_argument(tmp_path, flag, value):
    check, parse = ARGUMENTS[flag]
    if parse is int and isinstance(value, float):
        value = int(value) if math.isfinite(value) else 0
    text = repr(value) if isinstance(value, float) else str(value)
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        # The output folder does not exist: a run that gets past the arguments stops there,
        # long before any model would load.
        out = tmp_path / "no" / "a.wav"
        status = cli.main(["generate", "--caption", "x", "--out", str(out), f"{flag}={text}"])
    message = stderr.getvalue()
    assert status == 2 and "Traceback" not in message
    if _in_range(flag, value):
        check(value, flag)  # the core accepts it too
        assert flag not in message and "does not exist" in message
    else:
        with pytest.raises(ValueError):
            check(value, flag)
        assert f"error: {flag} " in message


def test_generation_does_not_import_the_mixer():
    code = (
        "import sys, audiogen_core.cli.main, audiogen_core.pipeline\n"
        "import audiogen_core.media.resampling\n"
        "loaded = {'audiogen_core.media.mixing', 'audiogen_core.media.loudness',\n"
        "          'pyloudnorm', 'scipy'}\n"
        "print(sorted(loaded & set(sys.modules)))\n"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
