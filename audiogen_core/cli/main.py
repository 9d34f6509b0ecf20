"""Headless entry point: ``python -m audiogen_core generate``, ``batch``, ``view`` and
``download`` (one module each; the options they share are declared in ``arguments``).

Errors a user can fix (missing weights, bad prompt, bad arguments, an output file that cannot
be written) are printed as one clear ``error:`` line with exit status 2, never as a traceback,
and are found before any model is loaded.
"""

from __future__ import annotations

import argparse
import sys

from . import batch, download, generate, view
from .arguments import Parser, UsageError
from .errors import EXIT_USAGE, CliError, printable


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m audiogen_core",
        description="Dasheng-AudioGen: speech, music, sound effects and ambience from one prompt.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    generate.add_parser(sub)
    view.add_parser(sub)
    batch.add_parser(sub)
    download.add_parser(sub)
    return parser


_COMMANDS = {
    "generate": generate.run,
    "view": view.run,
    "batch": batch.run,
    "download": download.run,
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv); returns the exit status."""
    from ..checkpoints.weights import WeightsError

    try:
        args = build_parser().parse_args(argv)
        return _COMMANDS[args.command](args)
    except (UsageError, CliError, WeightsError, ValueError, OSError) as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
