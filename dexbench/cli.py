"""The `dexbench` command line: list | info | render | video | demo | generate | dataset | eval |
train | compare | leaderboard.

Thin on purpose: every command parses its arguments and calls library code
(`dexbench.envs.registry`, `dexbench.datasets`, `dexbench.generators`); the evaluation commands
live in `cli_evaluation.py`, what both share in `cli_common.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dexbench.cli_common import (
    CLIError,
    add_backend_args,
    backend_of,
    env_entry,
    make_env_for,
    parse_overrides,
    text_table,
)


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
    env = make_env_for(args.env_id)
    try:
        entry = env_entry(args.env_id)
        task = env.task
        print(f"{entry.env_id}{'  (native pairing)' if entry.native else ''}")
        print(f"task {entry.task}, embodiment {entry.embodiment}, layout {entry.layout}")
        print(
            f"horizon {env.horizon} steps at {env.control_freq:g} Hz ({env.substeps} physics substeps), "
            f"action mode {env.action_mode}, reward {env.reward_type}"
        )
        print(f"cameras: {', '.join(env.available_cameras())}")
        print("\nobservation space:")
        print(text_table([(k, tuple(s.shape), s.dtype) for k, s in env.observation_space.spaces.items()]))
        space = env.action_space
        print(f"\naction space: Box{space.shape} {space.dtype}, action mode {env.action_mode}")
        print(
            text_table(
                [
                    (
                        k,
                        f"[{s.start}:{s.stop}]",
                        np.array2string(space.low[s], precision=2, separator=","),
                        np.array2string(space.high[s], precision=2, separator=","),
                    )
                    for k, s in env.action_layout.items()
                ],
                header=("slot", "indices", "low", "high"),
            )
        )
        task_spec = env.task_spec
        print("\ntask spec:")
        for arm, subtasks in task_spec.subtasks.items():
            print(f"  {arm}:")
            for s in subtasks:
                print(f"    {s.name:<16} object_ref={s.object_ref}  ends on {s.term_signal}")
        for c in task_spec.coordination:
            print(f"  coordination ({c.scheme}): {c.subtasks}")
        for s in task_spec.sequential:
            print(f"  sequential: {s.pre} before {s.post}")
        print(f"\nlayouts of {entry.task}:")
        rows = []
        for name, layout in task.layouts.items():
            first = len(rows)
            for obj, p in layout.placements.items():
                rows.append(
                    [
                        "",
                        "",
                        obj,
                        f"({p.x[0]:+.3f}, {p.x[1]:+.3f})",
                        f"({p.y[0]:+.3f}, {p.y[1]:+.3f})",
                        f"({p.yaw[0]:+.2f}, {p.yaw[1]:+.2f})",
                        "",
                    ]
                )
            for obj, p in layout.scenery.items():
                rows.append(
                    [
                        "",
                        "",
                        f"{obj} (scenery)",
                        f"({p.x[0]:+.3f}, {p.x[1]:+.3f})",
                        f"({p.y[0]:+.3f}, {p.y[1]:+.3f})",
                        f"({p.yaw[0]:+.2f}, {p.yaw[1]:+.2f})",
                        "",
                    ]
                )
            for joint, (lo, hi) in layout.joints.items():
                rows.append(["", "", f"{joint} (joint)", f"({lo:+.3f}, {hi:+.3f})", "", "", ""])
            if len(rows) == first:
                rows.append(["", "", "-", "", "", "", ""])
            rows[first][:2] = ["->" if name == entry.layout else "", name]
            rows[first][6] = layout.description
        print(text_table(rows, header=("", "layout", "object", "x (m)", "y (m)", "yaw (rad)", "description")))
    finally:
        env.close()
    return 0


def _check_seed(seed: int) -> None:
    if seed < 0:
        raise CLIError(f"--seed must be >= 0 (numpy seeds), got {seed}")


def _check_camera(env, args) -> None:
    if args.camera not in env.available_cameras():
        raise CLIError(f"unknown camera {args.camera!r}; {args.env_id} has {', '.join(env.available_cameras())}")


def cmd_render(args) -> int:
    import imageio.v2 as imageio

    from dexbench.video import check_frame_size

    try:
        check_frame_size(args.size)
    except ValueError as err:
        raise CLIError(str(err)) from err
    _check_seed(args.seed)
    env = make_env_for(args.env_id)
    try:
        _check_camera(env, args)
        env.reset(seed=args.seed)
        image = env.render_camera_image(args.camera, (args.size, args.size))
    finally:
        env.close()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    imageio.imwrite(args.out, image)
    print(f"wrote {args.out} ({args.size}x{args.size}, camera {args.camera}, seed {args.seed})")
    return 0


def cmd_video(args) -> int:
    from dexbench.generators.scripted import make_demonstrator
    from dexbench.outputs import check_output, is_video
    from dexbench.rollout import rollout
    from dexbench.video import FrameGrabber, check_video_path, write_video

    _check_seed(args.seed)
    if args.max_steps is not None and args.max_steps < 1:
        raise CLIError(f"--max-steps must be >= 1, got {args.max_steps}")
    env = make_env_for(args.env_id)
    try:
        try:
            check_video_path(args.out)
            check_output(args.out, overwrite=args.overwrite, ours=is_video, what="a video")
            demonstrator = make_demonstrator(env)
            frames = min(args.max_steps or env.horizon, env.horizon) + 1  # the reset's frame and one a step
            grabber = FrameGrabber(
                env,
                args.camera,
                args.size,
                progress=not args.quiet,
                total=frames,
                desc=f"video {args.env_id.split('/')[-1]}",
            )
        except (KeyError, ValueError, OSError) as err:  # FileExistsError and an unwritable folder too
            raise CLIError(str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)) from err
        try:
            episode = rollout(env, demonstrator, args.seed, max_steps=args.max_steps, record=False, on_step=grabber)
        finally:
            grabber.close()
        write_video(grabber.frames, args.out, env.control_freq)
    finally:
        env.close()
    print(
        f"wrote {args.out}: {episode.num_samples} steps, {'success' if episode.success else 'no success'} "
        f"({episode.end_reason})"
    )
    return 0


def cmd_demo(args) -> int:
    """`dexbench demo`: the `scripted` generator under another name."""
    args.generator, args.source, args.config = "scripted", None, None
    return cmd_generate(args)


def cmd_generate(args) -> int:
    from dexbench.datasets.hdf5 import DatasetError
    from dexbench.generators import available_generators
    from dexbench.generators.runner import GenerationError, OutputPaths, run_generation

    if args.generator is None:
        raise CLIError(f"--generator is required; available: {', '.join(available_generators()) or '(none)'}")
    env_entry(args.env)
    _check_generation_out(args)
    env_kwargs = {}
    if args.obs_mode != "state":
        env_kwargs.update(obs_mode=args.obs_mode, camera_names=args.cameras, image_size=args.image_size)
    try:
        report = run_generation(
            args.generator,
            args.env,
            args.source,
            args.n,
            args.out,
            seed=args.seed,
            workers=args.workers,
            config=parse_overrides(args.config),
            resume=args.resume,
            keep_failed=args.keep_failed,
            max_attempts=args.max_attempts,
            progress=not args.quiet,
            overwrite=args.overwrite,
            env_kwargs=env_kwargs,
            backend=backend_of(args),
        )
    except KeyError as err:  # unknown generator, or no scripted demonstrator for the task
        raise CLIError(str(err.args[0]) if err.args else str(err)) from err
    except (DatasetError, OSError, ImportError, TypeError, ValueError) as err:
        raise CLIError(str(err)) from err
    except GenerationError as err:  # a worker failed or the disk is full; the shards are kept for --resume
        print(f"dexbench {args.command}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "\ninterrupted: the demos made so far are kept in the shards beside the output; run the same "
            "command with --resume to continue",
            file=sys.stderr,
        )
        return 130
    print()
    print(report.table())
    print(f"\nreport: {OutputPaths(Path(args.out)).report}")
    if report.successes < args.n:
        print(
            f"\nonly {report.successes} of {args.n} demos succeeded in {report.attempts} attempts; raise "
            "--max-attempts and run again with --resume to continue",
            file=sys.stderr,
        )
        return 1
    return 0


def _check_generation_out(args) -> None:
    """The outputs rule for generate/demo, before any attempt: --overwrite replaces only a
    DexBench dataset (and the generation report beside it); a file of something else at the
    report's path is never replaced. --resume extends the output: the run checks it."""
    from dexbench.generators.runner import OutputPaths
    from dexbench.outputs import check_output, is_dexbench_dataset, is_generation_report

    try:
        # An existing --out without --overwrite is the run's to refuse (after its config checks,
        # naming --resume too).
        if not args.resume and (args.overwrite or not os.path.lexists(args.out)):
            check_output(args.out, overwrite=args.overwrite, ours=is_dexbench_dataset, what="a DexBench dataset")
        report = OutputPaths(Path(args.out)).report
        if os.path.lexists(report) and (report.is_symlink() or not is_generation_report(report)):
            raise ValueError(
                f"{report} (where the generation report of --out {args.out} goes) is not a generation "
                "report, so it is not replaced; move it away, or give another --out"
            )
    except (OSError, ValueError) as err:
        raise CLIError(str(err)) from err


def cmd_dataset_info(args) -> int:
    from dexbench.datasets.hdf5 import DatasetError
    from dexbench.datasets.info import dataset_info

    try:
        info = dataset_info(args.file)
    except DatasetError as err:
        raise CLIError(str(err)) from err
    lengths = info["lengths"]
    rows = [
        ("file", info["path"]),
        ("env", info["env_id"]),
        ("complete", "yes" if info["complete"] else "no (an unfinished run's partial file)"),
        ("demos", f"{info['demos']}" + (f" of {info['attempts']} attempts" if info["attempts"] else "")),
        (
            "lengths",
            f"min {lengths['min']}, mean {lengths['mean']:.1f}, max {lengths['max']} steps ({lengths['total']} in all)"
            if lengths
            else "-",
        ),
        ("layouts", ", ".join(f"{k} {v}" for k, v in info["layouts"].items()) or "-"),
        ("generators", ", ".join(f"{k} {v}" for k, v in info["generators"].items()) or "-"),
        ("source demos", ", ".join(f"#{k}: {v}" for k, v in info["source_demos"].items()) or "-"),
        ("observations", ", ".join(info["obs_keys"]) or "-"),
        ("masks", ", ".join(f"{k} ({v})" for k, v in info["masks"].items()) or "-"),
        ("versions", f"mujoco {info['mujoco_version']}, dexbench {info['dexbench_version']}"),
    ]
    gen = info.get("generation")
    if gen:
        source = gen.get("source") or {}
        # empty values (an unset option) are left out, not shown as `name=,`
        config = (
            ", ".join(
                f"{k}={v}"
                for k, v in (gen.get("config") or {}).items()
                if v is not None and v != "" and v != [] and v != {}
            )
            or "defaults"
        )
        workers = f"{gen['workers']} worker{'' if gen['workers'] == 1 else 's'}"
        rows += [
            ("generated by", f"{gen['generator']} (seed {gen['seed']}, {workers}, {gen['requested']} requested)"),
            ("config", config),
            (
                "sources",
                f"{source['path']} ({source['demos']} demos of {source['env_id']})"
                if source
                else "none (the generator needs none)",
            ),
        ]
    print(text_table(rows))
    return 0


def cmd_dataset_replay(args) -> int:
    from dexbench.datasets.hdf5 import DatasetError
    from dexbench.datasets.replay import replay_demo

    try:
        if args.out is not None:  # before the replay: the outputs rule of `video`
            from dexbench.outputs import check_output, is_video

            check_output(args.out, overwrite=args.overwrite, ours=is_video, what="a video")
        result = replay_demo(
            args.file,
            args.demo,
            video=args.out,
            camera=args.camera,
            size=args.size,
            max_steps=args.max_steps,
            progress=not args.quiet,
        )
    except (DatasetError, KeyError, ValueError, OSError) as err:
        raise CLIError(str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)) from err
    verdict = (
        "success"
        if result.success
        else ("no success at the end" + (" (succeeded on the way)" if result.ever_success else ""))
    )
    steps = f"{result.steps} steps" if result.complete else f"the first {result.steps} of {result.total_steps} steps"
    print(
        f"replayed {result.demo} of {args.file}: {steps}, {verdict}; "
        f"max state deviation from the stored states {result.max_state_error:.3g}"
    )
    if result.video:
        print(f"wrote {result.video}")
    if not result.faithful:
        print(
            f"the replay does not reproduce the stored demo (max state deviation {result.max_state_error:.3g}, "
            f"the dataset says success={result.stored_success})",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_dataset_export(args) -> int:
    from dexbench.datasets.export import MissingExportPackage, export_dataset
    from dexbench.datasets.hdf5 import DatasetError

    try:
        result = export_dataset(args.file, args.format, args.out, overwrite=args.overwrite, progress=not args.quiet)
    except (DatasetError, MissingExportPackage, OSError, ValueError) as err:  # OSError: FileExistsError, unwritable
        raise CLIError(str(err)) from err
    print(
        f"wrote {result.out}: {result.format}, {result.episodes} episodes, {result.steps} steps "
        f"(final observations from {result.final_obs})"
    )
    print(f"load it with {result.details['load']}")
    return 0


def cmd_dataset_render_obs(args) -> int:
    from tqdm import tqdm

    from dexbench.datasets import load_dataset
    from dexbench.datasets.hdf5 import DatasetError
    from dexbench.datasets.render_obs import RenderObsError, render_obs

    cameras = [c.strip() for c in args.cameras.split(",") if c.strip()]
    factors = _visual_factors_arg(args.visual_factors)
    bar = None
    try:
        if args.out is not None and not (
            os.path.lexists(args.out) and os.path.exists(args.file) and os.path.samefile(args.out, args.file)
        ):
            from dexbench.outputs import check_output, is_dexbench_dataset

            check_output(args.out, overwrite=args.overwrite, ours=is_dexbench_dataset, what="a DexBench dataset")
        with load_dataset(args.file) as ds:
            total = len(ds)
        bar = tqdm(total=total, desc="render-obs", unit="demo", disable=args.quiet, dynamic_ncols=True)
        out = render_obs(
            args.file,
            cameras,
            args.size,
            out=args.out,
            workers=args.workers,
            preset=args.preset,
            overwrite=args.overwrite,
            visual_factors=factors,
            progress=lambda key: bar.update(1),
            backend=backend_of(args),
        )
    except (DatasetError, OSError, ValueError) as err:  # FileExistsError, IsADirectoryError, an unwritable --out
        raise CLIError(str(err)) from err
    except RenderObsError as err:
        print(f"dexbench dataset render-obs: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "\ninterrupted: the demos rendered so far are kept; run the same command again to continue", file=sys.stderr
        )
        return 130
    finally:
        if bar is not None:
            bar.close()
    images = ", ".join(f"obs/{c}_image" for c in cameras)
    looks = f", looks drawn per demo seed: {args.visual_factors}" if factors else ""
    print(f"wrote {out}: {images} ({args.size}x{args.size} px, {args.preset} preset{looks})")
    return 0


def _visual_factors_arg(text: str | None) -> tuple[str, ...] | str | None:
    """`--visual-factors`: None (the dataset's own), `none` (the published look), `all`, or
    comma-separated factor names (checked, with the valid names, by the command)."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["none"]:
        return ()
    if names == ["all"]:
        return "all"
    if not names:
        raise CLIError(
            "--visual-factors is empty; give factor names (lighting,textures,object_colors,camera,"
            "distractors), 'all', or 'none' for the published look"
        )
    return tuple(names)


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from dexbench import __version__
    from dexbench.cli_evaluation import add_evaluation_commands

    parser = argparse.ArgumentParser(
        prog="dexbench", description="DexBench: bimanual dexterous manipulation benchmark (MuJoCo + Gymnasium)."
    )
    parser.add_argument("--version", action="version", version=f"dexbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("list", help="all env ids, grouped by task (* = native pairing)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="spaces, action layout, task spec and layouts of an env")
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
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out video")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_video)

    p = sub.add_parser("demo", help="record successful scripted demos to HDF5 (= generate --generator scripted)")
    _add_generation_args(p, sources=False)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("generate", help="generate successful demos with a generator plug-in (scripted: no sources)")
    p.add_argument("--generator", metavar="NAME", help="registered generator (e.g. scripted, mimicgen, demo_noise)")
    _add_generation_args(p, sources=True)
    p.add_argument("--config", nargs="+", action="extend", metavar="KEY=VALUE", help="generator config overrides")
    p.set_defaults(func=cmd_generate)

    add_evaluation_commands(sub)

    p = sub.add_parser("dataset", help="inspect, replay, export or add camera images to a dataset")
    dsub = p.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND", required=True)
    q = dsub.add_parser("info", help="demos, lengths, layouts, generator and sources of a dataset")
    q.add_argument("file", metavar="FILE")
    q.set_defaults(func=cmd_dataset_info)
    q = dsub.add_parser("replay", help="replay a demo's actions from its stored initial state (video)")
    q.add_argument("file", metavar="FILE")
    q.add_argument("--demo", default="0", metavar="K", help="demo index or key (default 0)")
    q.add_argument("--out", default=None, metavar="FILE.mp4", help="write the replay as a video (mp4 or gif)")
    q.add_argument("--camera", default="agentview")
    q.add_argument("--size", type=int, default=256, help="frame side in pixels (default 256)")
    q.add_argument("--max-steps", type=int, default=None, help="replay only the first steps (a quick preview)")
    q.add_argument("--overwrite", action="store_true", help="replace an existing --out video")
    q.add_argument("-q", "--quiet", action="store_true", help="no progress bar (shown while rendering --out)")
    q.set_defaults(func=cmd_dataset_replay)
    q = dsub.add_parser(
        "export",
        help="export a dataset to Minari or LeRobot (optional extras: "
        "pip install 'dexbench[minari]' or 'dexbench[lerobot]')",
    )
    q.add_argument("file", metavar="FILE")
    q.add_argument("--format", required=True, metavar="FORMAT", help="minari or lerobot")
    q.add_argument("--out", required=True, metavar="DIR", help="output directory (written atomically)")
    q.add_argument("--overwrite", action="store_true", help="replace an existing output once the new one is complete")
    q.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=cmd_dataset_export)
    q = dsub.add_parser("render-obs", help="add camera images to a dataset, rendered from its stored states")
    q.add_argument("file", metavar="FILE")
    q.add_argument(
        "--cameras",
        required=True,
        metavar="CAM[,CAM...]",
        help="comma-separated cameras, e.g. agentview,right_wrist (`dexbench info ID` lists them)",
    )
    q.add_argument("--size", type=int, default=84, help="image side in pixels (default 84)")
    q.add_argument(
        "--workers", type=int, default=1, help="workers: processes, or Ray tasks (the images do not depend on it)"
    )
    add_backend_args(q)
    q.add_argument("--out", default=None, metavar="FILE2", help="write here instead of replacing FILE")
    q.add_argument(
        "--preset",
        default="fast",
        choices=("fast", "default"),
        help="render preset: fast (observations, default) or default (the model's own look)",
    )
    q.add_argument(
        "--visual-factors",
        default=None,
        metavar="FACTOR[,FACTOR...]|all|none",
        help="randomised looks, each demo's drawn from its reset seed (lighting, textures, object_colors, "
        "camera, distractors, or all); none: the published look; default: the dataset's own",
    )
    q.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out or images FILE already has; discard another run's work folder",
    )
    q.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=cmd_dataset_render_obs)
    return parser


def _add_generation_args(p: argparse.ArgumentParser, sources: bool) -> None:
    p.add_argument("--env", required=True, metavar="ID", help="target env id")
    if sources:
        p.add_argument(
            "--source",
            metavar="FILE",
            help="source demos (HDF5, e.g. from `dexbench demo`); not for the scripted generator",
        )
    p.add_argument("-n", type=int, required=True, help="number of successful demos to keep")
    p.add_argument("--out", required=True, metavar="FILE", help="output dataset, e.g. demos.hdf5")
    p.add_argument("--seed", type=int, default=0, help="run seed (attempt i depends on (seed, i) only)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="workers: processes, or Ray tasks (each writes a shard; merged at the end)",
    )
    add_backend_args(p)
    p.add_argument("--resume", action="store_true", help="continue an interrupted (or finished, to a larger -n) run")
    p.add_argument("--keep-failed", action="store_true", help="also write failed attempts to <out stem>.failed.hdf5")
    p.add_argument("--max-attempts", type=int, default=None, help="bound on attempts (default max(20 n, 100))")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output and discard old shards")
    p.add_argument("--obs-mode", default="state", choices=("state", "rgb", "state+rgb"))
    p.add_argument("--cameras", nargs="+", default=["agentview"], help="cameras for rgb observations")
    p.add_argument("--image-size", type=int, default=84, help="rgb observation side in pixels")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


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


if __name__ == "__main__":
    sys.exit(main())
