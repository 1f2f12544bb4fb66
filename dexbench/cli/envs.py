"""`dexbench list | info | render | video`: the envs, their spaces and layouts, an image, a scripted rollout's video."""

from __future__ import annotations

import os

import numpy as np

from dexbench.cli.common import CLIError, env_entry, make_env_for, text_table, user_errors


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
        with user_errors(KeyError, ValueError, OSError):  # FileExistsError and an unwritable folder too
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


def add_commands(sub) -> None:
    """Add these commands to the `dexbench` subcommand parser `sub`."""
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
