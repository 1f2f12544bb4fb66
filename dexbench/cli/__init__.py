"""The `dexbench` command line: list | info | render | video | demo | generate | dataset | eval |
train | compare | flywheel | leaderboard.

Thin on purpose: every command parses its arguments and calls library code. One module per
command group, named after it: `envs` (list, info, render, video), `generate` (generate, demo),
`dataset`, `evaluate` (eval), `train`, `compare`, `flywheel`, `leaderboard`; what they share (the
user-error type, the one mapping of library errors to it, argument helpers) is in `common`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dexbench.cli import compare, dataset, envs, evaluate, flywheel, generate, leaderboard, train
from dexbench.cli.common import CLIError

# The order of `dexbench --help`.
COMMAND_GROUPS = (envs, generate, evaluate, train, compare, flywheel, leaderboard, dataset)


def build_parser() -> argparse.ArgumentParser:
    from dexbench import __version__

    parser = argparse.ArgumentParser(
        prog="dexbench", description="DexBench: bimanual dexterous manipulation benchmark (MuJoCo + Gymnasium)."
    )
    parser.add_argument("--version", action="version", version=f"dexbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `dexbench ... | head`: the reader left; nothing to report
        sys.stderr.close()
        return 0
    except CLIError as err:
        print(f"dexbench {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
