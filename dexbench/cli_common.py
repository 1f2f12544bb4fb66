"""What the `dexbench` commands share: the user-error type and small argument helpers."""

from __future__ import annotations

from collections.abc import Sequence


class CLIError(Exception):
    """A user error: printed without a traceback, exit status 2."""


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
