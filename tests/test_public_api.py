"""The public API re-exported from ``audiogen_core``, loaded only when first used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import audiogen_core

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_name_resolves_to_its_defining_module():
    from audiogen_core.conditioning.encoded import Conditioning
    from audiogen_core.pipeline import AudioGenPipeline
    from audiogen_core.sampling.settings import SETTINGS

    assert audiogen_core.AudioGenPipeline is AudioGenPipeline
    assert audiogen_core.Conditioning is Conditioning
    assert audiogen_core.SETTINGS is SETTINGS
    assert all(getattr(audiogen_core, name) is not None for name in audiogen_core.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Pipeline'"):
        audiogen_core.Pipeline  # noqa: B018


def test_importing_a_light_part_does_not_import_the_pipeline():
    code = (
        "import sys, audiogen_core, audiogen_core.conditioning.prompt\n"
        "print(sorted(m for m in sys.modules if m.startswith('audiogen_core.')\n"
        "             and m.split('.')[1] in ('pipeline', 'sampling', 'models')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
