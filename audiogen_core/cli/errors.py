"""What the command line prints for a problem the user can fix: one ``error:`` line, exit 2."""

from __future__ import annotations

import unicodedata

EXIT_USAGE = 2


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def printable(text: str) -> str:
    """``text`` with control characters escaped, safe to echo to a terminal (newlines kept)."""
    return "".join(
        char if char == "\n" or unicodedata.category(char) != "Cc" else repr(char)[1:-1]
        for char in text
    )
