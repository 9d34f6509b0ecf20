"""Fixtures for core tests: one set of tiny snapshot folders per test session."""

from __future__ import annotations

import pytest
from tiny_snapshots import write_tiny_snapshots


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return write_tiny_snapshots(tmp_path_factory.mktemp("models"))
