"""Offscreen rendering speed: the `fast` preset against the default `mujoco.Renderer`, in one run.

Per id, size (84, 128, 256 px) and camera: milliseconds per frame of `mujoco.Renderer(model,
size, size)` (what the env used before presets; the model's own look) and of the env's
`CameraRenderer` with the `fast` preset, on the same model and the same states, timed in
alternating rounds so that load from other processes hits both alike; the medians over rounds
and their ratio. `--scene` times the several-cameras-per-step path: one `mjv_updateScene` per
camera against one per step plus a camera move per further camera. `--ablation` switches the
fast preset's parts one at a time on top of the default look, and off one at a time from the
fast preset, on one camera: what each buys.

    MUJOCO_GL=egl python benchmarks/render_speed.py
    MUJOCO_GL=egl python benchmarks/render_speed.py --ids DexMG/Pouring-GR1-D0 --sizes 84 --ablation
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time

import mujoco
import numpy as np

from dexbench.envs.registry import build_env
from dexbench.envs.rendering import RENDER_PRESETS, CameraRenderer

DEFAULT_IDS = ("DexMG/TrayLift-Panda-D0", "DexMG/Pouring-GR1-D0")
STATES = 4  # reset states cycled through (seeds 0..3): objects and arms in different places


def env_states(env_id: str):
    env = build_env(env_id)
    states = []
    for seed in range(STATES):
        env.reset(seed=seed)
        states.append(env.get_state())
    return env, states


def _time_frames(render_one, env, states, frames: int) -> float:
    """Seconds per frame of `render_one()` over `frames` frames, cycling through the states
    (setting a state is outside the timed part)."""
    total = 0.0
    for i in range(frames):
        env.reset_to(states[i % len(states)])
        t0 = time.perf_counter()
        render_one()
        total += time.perf_counter() - t0
    return total / frames


def _default_renderer(model, size: int, camera: str):
    renderer = mujoco.Renderer(model, size, size)

    def render_one(data):
        renderer.update_scene(data, camera=camera)
        return renderer.render()

    return renderer, render_one


def compare_presets(env_id: str, sizes, rounds: int, frames: int) -> list[dict]:
    env, states = env_states(env_id)
    rows = []
    for size in sizes:
        for camera in env.available_cameras():
            default, default_one = _default_renderer(env.model, size, camera)
            fast = CameraRenderer(env.model, size, size, "fast")
            for _ in range(2):  # warm-up: first frames upload textures and compile shaders
                default_one(env.data), fast.render(env.data, [camera])
            times = {"default": [], "fast": []}
            for _ in range(rounds):
                times["default"].append(_time_frames(lambda one=default_one: one(env.data), env, states, frames))
                times["fast"].append(
                    _time_frames(lambda r=fast, c=camera: r.render(env.data, [c]), env, states, frames)
                )
            default.close(), fast.close()
            d_ms, f_ms = (1e3 * float(np.median(times[k])) for k in ("default", "fast"))
            rows.append(
                {
                    "id": env_id,
                    "size": size,
                    "camera": camera,
                    "default_ms": d_ms,
                    "fast_ms": f_ms,
                    "ratio": d_ms / f_ms,
                }
            )
    env.close()
    return rows


def compare_scene_updates(env_id: str, sizes, rounds: int, frames: int) -> list[dict]:
    """All cameras per step, fast preset: a full scene update per camera against one per step."""
    env, states = env_states(env_id)
    cameras = env.available_cameras()
    rows = []
    for size in sizes:
        renderer = CameraRenderer(env.model, size, size, "fast")

        def per_camera(renderer=renderer):
            return [renderer.render(env.data, [c]) for c in cameras]

        def shared(renderer=renderer):
            return renderer.render(env.data, cameras)

        per_camera(), shared()
        times = {"per_camera": [], "shared": []}
        for _ in range(rounds):
            times["per_camera"].append(_time_frames(per_camera, env, states, frames))
            times["shared"].append(_time_frames(shared, env, states, frames))
        renderer.close()
        p_ms, s_ms = (1e3 * float(np.median(times[k])) for k in ("per_camera", "shared"))
        rows.append(
            {
                "id": env_id,
                "size": size,
                "cameras": len(cameras),
                "per_camera_ms": p_ms,
                "shared_ms": s_ms,
                "ratio": p_ms / s_ms,
                "update_ms": _scene_update_ms(env, cameras),
            }
        )
    env.close()
    return rows


def _scene_update_ms(env, cameras, repeats: int = 200) -> tuple[float, float]:
    """CPU cost of one full scene update and of one camera move (+ lights), in ms."""
    m, d = env.model, env.data
    scene, option = mujoco.MjvScene(m, 10000), mujoco.MjvOption()
    camera = mujoco.MjvCamera()
    camera.type, camera.fixedcamid = mujoco.mjtCamera.mjCAMERA_FIXED, 0
    t0 = time.perf_counter()
    for _ in range(repeats):
        mujoco.mjv_updateScene(m, d, option, None, camera, mujoco.mjtCatBit.mjCAT_ALL, scene)
    full = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(repeats):
        mujoco.mjv_updateCamera(m, d, camera, scene)
        mujoco.mjv_makeLights(m, d, scene)
    move = time.perf_counter() - t0
    return 1e3 * full / repeats, 1e3 * move / repeats


# One switch each, as the preset fields it sets: the fast preset's switches, and the ones it leaves on.
SWITCHES = {
    "shadows off": {"shadows": False, "shadow_map_px": 0},
    "multisampling off": {"multisamples": 0},
    "buffer = image size": {"buffer_fits_image": True},
    "reflections off": {"reflections": False},
    "coarse tessellation": {"tessellation": RENDER_PRESETS["fast"].tessellation},
    "skybox off": {"skybox": False},
    "haze off": {"haze": False},
}


def ablation(env_id: str, size: int, rounds: int, frames: int, camera: str = "agentview") -> list[dict]:
    """Each switch alone on top of the default look; and the fast preset minus each of its
    switches, or with each switch it leaves on."""
    env, states = env_states(env_id)
    default, fast = RENDER_PRESETS["default"], RENDER_PRESETS["fast"]
    presets = {"default": default, "fast": fast}
    for switch, fields in SWITCHES.items():
        presets[f"default + {switch}"] = dataclasses.replace(default, name=switch, **fields)
        if all(getattr(fast, f) == v for f, v in fields.items()):
            presets[f"fast minus {switch}"] = dataclasses.replace(
                fast, name=f"not {switch}", **{f: getattr(default, f) for f in fields}
            )
        else:
            presets[f"fast + {switch}"] = dataclasses.replace(fast, name=f"fast {switch}", **fields)
    renderers = {name: CameraRenderer(env.model, size, size, preset) for name, preset in presets.items()}
    for r in renderers.values():
        r.render(env.data, [camera])
    times = {name: [] for name in renderers}
    for _ in range(rounds):
        for name, r in renderers.items():
            times[name].append(_time_frames(lambda r=r: r.render(env.data, [camera]), env, states, frames))
    env.reset_to(states[0])
    reference = renderers["default"].render(env.data, [camera])[0].astype(int)
    rows = []
    for name, r in renderers.items():
        image = r.render(env.data, [camera])[0]
        ms = 1e3 * float(np.median(times[name]))
        rows.append({"config": name, "ms": ms, "mean_abs_diff": float(np.abs(image - reference).mean())})
        r.close()
    base = {row["config"]: row["ms"] for row in rows}
    for row in rows:
        row["speedup"] = base["default"] / row["ms"]
    env.close()
    return rows


def _table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    header = [title for _, title, _ in columns]
    body = [[format(row[key], fmt) for key, _, fmt in columns] for row in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in body]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", nargs="+", default=list(DEFAULT_IDS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[84, 128, 256])
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds (median)")
    parser.add_argument("--frames", type=int, default=8, help="frames per round")
    parser.add_argument("--scene", action="store_true", help="also: several cameras per step")
    parser.add_argument("--ablation", action="store_true", help="also: each switch of the fast preset")
    parser.add_argument("--presets-only", action="store_true", help="skip the default-vs-fast table")
    args = parser.parse_args()
    print(
        f"mujoco {mujoco.__version__}, MUJOCO_GL={os.environ.get('MUJOCO_GL', '')}, "
        f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; medians of {args.rounds} rounds x {args.frames} frames"
    )
    for env_id in args.ids:
        if not args.presets_only:
            print(f"\n{env_id}: ms per frame, default mujoco.Renderer vs the fast preset")
            print(
                _table(
                    compare_presets(env_id, args.sizes, args.rounds, args.frames),
                    [
                        ("size", "px", "d"),
                        ("camera", "camera", "s"),
                        ("default_ms", "default ms", ".2f"),
                        ("fast_ms", "fast ms", ".2f"),
                        ("ratio", "ratio", ".1f"),
                    ],
                )
            )
        if args.scene:
            print(f"\n{env_id}: all cameras per step (fast), ms per step")
            rows = compare_scene_updates(env_id, args.sizes, args.rounds, args.frames)
            for row in rows:
                row["full"], row["move"] = row.pop("update_ms")
            print(
                _table(
                    rows,
                    [
                        ("size", "px", "d"),
                        ("cameras", "cameras", "d"),
                        ("per_camera_ms", "scene update per camera", ".2f"),
                        ("shared_ms", "one update per step", ".2f"),
                        ("ratio", "ratio", ".2f"),
                        ("full", "mjv_updateScene ms", ".3f"),
                        ("move", "camera move ms", ".3f"),
                    ],
                )
            )
        if args.ablation:
            for size in args.sizes:
                print(f"\n{env_id}: each switch at {size} px (agentview), ms per frame")
                print(
                    _table(
                        ablation(env_id, size, args.rounds, args.frames),
                        [
                            ("config", "config", "s"),
                            ("ms", "ms", ".2f"),
                            ("speedup", "x default", ".1f"),
                            ("mean_abs_diff", "mean |diff| vs default (0-255)", ".1f"),
                        ],
                    )
                )


if __name__ == "__main__":
    main()
