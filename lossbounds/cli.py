"""The ``lossbounds`` command line.

``lossbounds bounds LOSS [options]`` prints the bounds table (or JSON);
``lossbounds baseline LOSS [options]`` prints the uniform baseline alone.
Errors print one line to stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from . import __version__
from .bounds import BACKENDS, baseline, bounds

__all__ = ["main"]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


class _UsageError(Exception):
    pass


def _add_bounds_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("loss", help="loss name, e.g. sparse_cce, categorical_crossentropy, bce, mse")
    parser.add_argument("--n-classes", "-k", type=int, metavar="K", help="number of classes K")
    parser.add_argument("--label-smoothing", type=float, default=0.0, metavar="A",
                        help="Keras label smoothing in [0, 1] (default 0)")
    parser.add_argument("--from-logits", action="store_true", help="the model outputs logits")
    parser.add_argument("--epsilon", type=float, default=1e-7, metavar="E",
                        help="Keras clip epsilon (default 1e-7)")
    parser.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"],
                        help="Keras compute dtype (default float32)")
    parser.add_argument("--backend", default="tensorflow", metavar="B",
                        help=f"one of {', '.join(BACKENDS)} (default tensorflow)")


def _options(args: argparse.Namespace) -> dict:
    return dict(n_classes=args.n_classes, label_smoothing=args.label_smoothing,
                from_logits=args.from_logits, epsilon=args.epsilon, dtype=args.dtype,
                backend=args.backend)


def _cmd_bounds(args: argparse.Namespace) -> int:
    result = bounds(args.loss, **_options(args))
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print(result)
    return EXIT_OK


def _cmd_baseline(args: argparse.Namespace) -> int:
    print(repr(baseline(args.loss, **_options(args))))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lossbounds",
        description="What a Keras loss value means: exact bounds and baselines.",
        epilog="Example: lossbounds bounds sparse_cce --n-classes 7",
    )
    parser.add_argument("--version", action="version", version=f"lossbounds {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    command = commands.add_parser("bounds", help="best, uniform and worst values of a loss")
    _add_bounds_options(command)
    command.add_argument("--json", action="store_true", help="print JSON instead of a table")
    command.set_defaults(run=_cmd_bounds)
    command = commands.add_parser("baseline", help="the uniform baseline (ln K for K classes)")
    _add_bounds_options(command)
    command.set_defaults(run=_cmd_baseline)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return args.run(args)
    except _UsageError as error:
        print(str(error).replace("\n", " "), file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError) as error:
        print(f"lossbounds: error: {error}".replace("\n", " "), file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `lossbounds ... | head`: stop quietly
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
