"""The ``strokeseq`` command.

Subcommands live in their own modules (``strokeseq.commands.*``), each with
``add_parser(subparsers)`` and ``run(args) -> int``. This module only builds
the parser and turns the package's errors into one line on stderr and exit
status 2 — never a traceback for bad input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .errors import CommandError

__all__ = ["CommandError", "main"]  # CommandError lives in strokeseq.errors; kept here for imports

#: Subcommand modules under strokeseq.commands, in --help order.
COMMANDS = ("sequence", "dataset", "preview", "hardcases", "robustness", "export")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (plus a hint) and exits 2."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="strokeseq",
        description="Labelled images of handwritten digit sequences (MNIST or synthetic strokes).",
    )
    parser.add_argument("--version", action="version", version=f"strokeseq {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=(
            "log what happens on stderr (files found, unpacked copies, downloads and each "
            "mirror tried); goes before the command: strokeseq -v sequence 305 0 10 120. "
            "Without it only warnings are shown, and a failure is one line"
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:  # every command ships with the package: a failed import is a bug
        importlib.import_module(f".commands.{name}", __package__).add_parser(sub)
    return parser


def _configure_logging(verbose: bool) -> None:
    """``-v``: INFO records on stderr; otherwise only warnings, one line each.

    Without ``-v`` no handler is installed, so Python's last-resort handler
    prints warnings (a dataset waiting for another run's lock, a damaged cache
    copy being rebuilt) as bare messages. Routine detail, such as each mirror
    a download tried, is logged at INFO and shows only with ``-v``; a failure
    is the one error line.
    """
    if verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    from .errors import DataNotFoundError, DownloadError

    try:
        return int(args.run(args) or 0)
    except (CommandError, ValueError, TypeError, DataNotFoundError, DownloadError) as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message
        sys.stderr.write(f"strokeseq {args.command}: error: {message}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"strokeseq {args.command}: interrupted\n")
        # A Ctrl-C that lands in code run by exec() of a string (a dataclass or
        # namedtuple being defined while a module is imported) makes CPython
        # note the KeyboardInterrupt as unhandled, although it is handled here,
        # and end the process with SIGINT instead of 130; a completed exec()
        # of a string clears that note.
        exec("None")
        return 130
    except OSError as exc:  # unwritable folder, disk full: one line, no traceback
        sys.stderr.write(f"strokeseq {args.command}: error: {exc}\n")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
