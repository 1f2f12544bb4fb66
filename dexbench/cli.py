"""The `dexbench` command line: list | info | render | video | demo.

Thin on purpose: every command parses its arguments and calls library code
(`dexbench.envs.registry`, `dexbench.datasets`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy as np



class CLIError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def _entry(env_id: str):
    import gymnasium as gym

    from dexbench.envs.registry import lookup

    try:
        return lookup(env_id)
    except gym.error.Error as err:
        raise CLIError(str(err)) from err


def _make(env_id: str, **kwargs):
    from dexbench.envs.registry import make_env

    entry = _entry(env_id)
    return make_env(entry.task, entry.embodiment, entry.variant, **kwargs)


def _table(rows: list[Sequence[str]], header: Sequence[str] | None = None) -> str:
    rows = [list(map(str, r)) for r in rows]
    if header:
        rows = [list(header)] + rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    if header:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- commands
def cmd_list(args) -> int:
    from dexbench.envs.registry import ENV_TABLE

    by_task: dict[str, list] = {}
    for entry in ENV_TABLE.values():
        by_task.setdefault(entry.task, []).append(entry)
    for task, entries in by_task.items():
        print(f"{task}:")
        for entry in entries:
            print(f"  {'*' if entry.native else ' '} {entry.env_id}")
    print(f"\n{len(ENV_TABLE)} ids; * = native pairing (the embodiment the source papers report on)")
    return 0


def cmd_info(args) -> int:
    env = _make(args.env_id)
    try:
        entry = _entry(args.env_id)
        task = env.task
        print(f"{entry.env_id}{'  (native pairing)' if entry.native else ''}")
        print(f"task {entry.task}, embodiment {entry.embodiment}, variant {entry.variant}")
        print(f"horizon {env.horizon} steps at {env.control_freq:g} Hz ({env.substeps} physics substeps), "
              f"action mode {env.action_mode}, reward {env.reward_type}")
        print(f"cameras: {', '.join(env.available_cameras())}")
        print("\nobservation space:")
        print(_table([(k, tuple(s.shape), s.dtype) for k, s in env.observation_space.spaces.items()]))
        space = env.action_space
        print(f"\naction space: Box{space.shape} {space.dtype}, action mode {env.action_mode}")
        print(_table([(k, f"[{s.start}:{s.stop}]", np.array2string(space.low[s], precision=2, separator=","),
                       np.array2string(space.high[s], precision=2, separator=","))
                      for k, s in env.action_layout.items()], header=("slot", "indices", "low", "high")))
        spec = env.task_spec
        print("\ntask spec:")
        for arm, subtasks in spec.subtasks.items():
            print(f"  {arm}:")
            for s in subtasks:
                print(f"    {s.name:<16} object_ref={s.object_ref}  ends on {s.term_signal}")
        for c in spec.coordination:
            print(f"  coordination ({c.scheme}): {c.subtasks}")
        for s in spec.sequential:
            print(f"  sequential: {s.pre} before {s.post}")
        print(f"\nvariants of {entry.task}:")
        rows = []
        for name, variant in task.variants.items():
            first = len(rows)
            for obj, p in variant.placements.items():
                rows.append(["", "", obj, f"({p.x[0]:+.3f}, {p.x[1]:+.3f})", f"({p.y[0]:+.3f}, {p.y[1]:+.3f})",
                             f"({p.yaw[0]:+.2f}, {p.yaw[1]:+.2f})", ""])
            for obj, xy in variant.fixed.items():
                rows.append(["", "", obj, f"{xy[0]:+.3f} (fixed)", f"{xy[1]:+.3f} (fixed)", "", ""])
            if len(rows) == first:
                rows.append(["", "", "-", "", "", "", ""])
            rows[first][:2] = ["->" if name == entry.variant else "", name]
            rows[first][6] = variant.description
        print(_table(rows, header=("", "variant", "object", "x (m)", "y (m)", "yaw (rad)", "description")))
    finally:
        env.close()
    return 0


def cmd_render(args) -> int:
    import imageio.v2 as imageio

    env = _make(args.env_id)
    try:
        if args.camera not in env.available_cameras():
            raise CLIError(f"unknown camera {args.camera!r}; {args.env_id} has {', '.join(env.available_cameras())}")
        env.reset(seed=args.seed)
        image = env.render_camera_image(args.camera, (args.size, args.size))
    finally:
        env.close()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    imageio.imwrite(args.out, image)
    print(f"wrote {args.out} ({args.size}x{args.size}, camera {args.camera}, seed {args.seed})")
    return 0


def cmd_video(args) -> int:
    from dexbench.datasets.recorder import default_demonstrator, demonstrator_rng, record_video

    env = _make(args.env_id)
    try:
        if args.camera not in env.available_cameras():
            raise CLIError(f"unknown camera {args.camera!r}; {args.env_id} has {', '.join(env.available_cameras())}")
        try:
            demonstrator = default_demonstrator(env, demonstrator_rng(args.seed))
        except KeyError as err:
            raise CLIError(str(err.args[0])) from err
        episode = record_video(env, demonstrator, args.seed, args.out, camera=args.camera, size=args.size,
                               max_steps=args.max_steps)
    finally:
        env.close()
    print(f"wrote {args.out}: {episode.num_samples} steps, {'success' if episode.success else 'no success'} "
          f"({episode.end_reason})")
    return 0


def cmd_demo(args) -> int:
    from dexbench.datasets.recorder import collect_demos

    entry = _entry(args.env)
    env_kwargs = {}
    if args.obs_mode != "state":
        env_kwargs.update(obs_mode=args.obs_mode, camera_names=args.cameras, image_size=args.image_size)
    try:
        report = collect_demos(entry.env_id, args.n, args.out, seed=args.seed, max_attempts=args.max_attempts,
                               env_kwargs=env_kwargs, overwrite=args.overwrite, progress=not args.quiet)
    except (FileExistsError, IsADirectoryError, ValueError) as err:
        raise CLIError(str(err)) from err
    except KeyError as err:  # no scripted demonstrator for the task
        raise CLIError(str(err.args[0]) if err.args else str(err)) from err
    print()
    print(report.table())
    if report.successes < args.n:
        print(f"\nonly {report.successes} of {args.n} demos succeeded in {report.attempts} attempts; "
              f"raise --max-attempts to try more seeds", file=sys.stderr)
        return 1
    return 0


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from dexbench import __version__

    parser = argparse.ArgumentParser(prog="dexbench", description="DexBench: bimanual dexterous manipulation "
                                     "benchmark (MuJoCo + Gymnasium).")
    parser.add_argument("--version", action="version", version=f"dexbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("list", help="all env ids, grouped by task (* = native pairing)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="spaces, action layout, task spec and variants of an env")
    p.add_argument("env_id", metavar="ID")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("render", help="render one camera image of an env after reset (PNG)")
    p.add_argument("env_id", metavar="ID")
    p.add_argument("--out", required=True, help="output image, e.g. scene.png")
    p.add_argument("--camera", default="agentview")
    p.add_argument("--size", type=int, default=512, help="image side in pixels (default 512)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("video", help="video of one scripted rollout (mp4)")
    p.add_argument("env_id", metavar="ID")
    p.add_argument("--out", required=True, help="output video, e.g. rollout.mp4 (or .gif)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--camera", default="agentview")
    p.add_argument("--size", type=int, default=256, help="frame side in pixels (default 256)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (default: horizon)")
    p.set_defaults(func=cmd_video)

    p = sub.add_parser("demo", help="record successful scripted demos to HDF5")
    p.add_argument("--env", required=True, metavar="ID")
    p.add_argument("-n", type=int, required=True, help="number of successful demos to keep")
    p.add_argument("--out", required=True, help="output dataset, e.g. demos.hdf5")
    p.add_argument("--seed", type=int, default=0, help="seed of the first attempt; attempt i uses seed + i")
    p.add_argument("--max-attempts", type=int, default=None, help="give up after this many attempts (default 5 n)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--obs-mode", default="state", choices=("state", "rgb", "state+rgb"))
    p.add_argument("--cameras", nargs="+", default=["agentview"], help="cameras for rgb observations")
    p.add_argument("--image-size", type=int, default=84, help="rgb observation side in pixels")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as err:
        print(f"dexbench {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
