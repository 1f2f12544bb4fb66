"""What the `dexbench` commands share: the user-error type, the one mapping of library errors to
it, and small argument helpers."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Sequence


class CLIError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def error_message(err: BaseException) -> str:
    """What a library error says to the user: a KeyError's message is its argument (str() of a
    KeyError would quote it), any other error's its str()."""
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)


@contextlib.contextmanager
def user_errors(*types: type[BaseException]) -> Iterator[None]:
    """Inside it, the library errors of `types` (a bad request: unknown name, bad value, missing
    file) become a `CLIError` with their `error_message`."""
    try:
        yield
    except types as err:
        raise CLIError(error_message(err)) from err


class _Cameras(argparse.Action):
    """`--cameras CAM[,CAM...]`: one comma-separated value. Where the option takes several words
    (`nargs="+"`), a space-separated list (generate's old form) is refused, naming the commas."""

    def __call__(self, parser, namespace, values, option_string=None):
        if isinstance(values, list):
            if len(values) > 1:
                parser.error(
                    f"{option_string} takes comma-separated cameras, e.g. {option_string} {','.join(values)}; "
                    f"got them space-separated ({' '.join(values)})"
                )
            values = values[0]
        setattr(namespace, self.dest, values)


class _CamerasHelp(argparse.HelpFormatter):
    """Shows `--cameras CAM[,CAM...]` where it takes several words (only to refuse them)."""

    def _format_args(self, action, default_metavar):
        if isinstance(action, _Cameras):
            return action.metavar
        return super()._format_args(action, default_metavar)


def add_cameras_arg(p, help: str, *, required: bool = False, default: str | None = None, words: bool = False) -> None:
    """`--cameras`, comma-separated in every command (`cameras_of` splits it). `words`: take
    several words so that the space-separated form is refused with a message (only where no
    positional argument follows, which they would swallow)."""
    p.add_argument(
        "--cameras",
        action=_Cameras,
        nargs="+" if words else None,
        required=required,
        default=default,
        metavar="CAM[,CAM...]",
        help=help,
    )
    if words and p.formatter_class is argparse.HelpFormatter:
        p.formatter_class = _CamerasHelp


def cameras_of(text: str) -> list[str]:
    """The camera names of a `--cameras` value."""
    return [c.strip() for c in text.split(",") if c.strip()]


def add_backend_args(p) -> None:
    """`--backend` and `--address`: where a command's workers run (`dexbench.backends`)."""
    p.add_argument(
        "--backend",
        choices=("process", "ray"),
        default="process",
        help="run the workers as processes on this machine (default) or as Ray tasks; the output is the "
        "same (ray: pip install 'dexbench[ray]')",
    )
    p.add_argument(
        "--address",
        default=None,
        metavar="HOST:PORT",
        help="with --backend ray: the Ray cluster to use (e.g. HOST:6379 of `ray start --head`, or auto); "
        "default: start a Ray on this machine for the run",
    )


def backend_of(args):
    """The Backend the arguments ask for, connected (Ray) so that a missing Ray or an
    unreachable cluster is a user error now, before any work."""
    from dexbench.backends import Backend, BackendError, connect_ray

    try:
        backend = Backend(args.backend, args.address)
        if backend.is_ray:
            connect_ray(backend.address)
    except (ValueError, BackendError) as err:
        raise CLIError(str(err)) from err
    return backend


def env_entry(env_id: str):
    import gymnasium as gym

    from dexbench.envs.registry import lookup

    try:
        return lookup(env_id)
    except gym.error.Error as err:
        raise CLIError(str(err)) from err


def make_env_for(env_id: str, **kwargs):
    from dexbench.envs.registry import build_env

    env_entry(env_id)  # an unknown id is a user error, not a traceback
    return build_env(env_id, **kwargs)


def text_table(rows: list[Sequence[str]], header: Sequence[str] | None = None) -> str:
    rows = [list(map(str, r)) for r in rows]
    if header:
        rows = [list(header)] + rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    if header:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def parse_overrides(items: Sequence[str] | None, flag: str = "--config") -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"{flag} expects KEY=VALUE, got {item!r}")
        if key.strip() in overrides:
            raise CLIError(
                f"{flag} sets {key.strip()!r} twice ({overrides[key.strip()]!r} and {value.strip()!r}): "
                f"give each key once"
            )
        overrides[key.strip()] = value.strip()
    return overrides
