#!/bin/sh
# The native sampling checks against a real ComfyUI (tests/comfyui/test_native_sampling.py):
#
#   AUDIOGEN_COMFYUI_DIR=/path/to/ComfyUI tests/comfyui/run_native_checks.sh [python]
#
# ``python`` (default: python) is ComfyUI's environment, with this pack's requirements and
# pytest installed beside ComfyUI's torch. The equality figures are printed per case.
set -eu
: "${AUDIOGEN_COMFYUI_DIR:?set AUDIOGEN_COMFYUI_DIR to a ComfyUI checkout}"
PYTHON=${1:-python}
cd "$(dirname "$0")/.."
# One process, without pytest.ini's xdist workers: ComfyUI's model management is per process,
# and ComfyUI's environment need not have pytest-xdist.
exec "$PYTHON" -m pytest -q -s -p no:cacheprovider -o addopts="-ra --import-mode=importlib" comfyui
