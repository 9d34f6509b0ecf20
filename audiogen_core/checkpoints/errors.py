"""The one error type of checkpoint finding, checking and loading."""

from __future__ import annotations


class WeightsError(RuntimeError):
    """A snapshot folder or weight file is missing, unsafe or does not fit the model."""
