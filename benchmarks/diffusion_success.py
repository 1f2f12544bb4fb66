"""Success rate of the Diffusion Policy beside BC's chunking MLP, trained on the same demos.

Records `--demos` scripted demos of `--env` (or reads `--data`), trains the MLP with its
`dexbench train bc` defaults and the Diffusion Policy with the options given here, and evaluates
both on the env's first `--episodes` published seeds (held out: no generation attempt uses them).
Prints one markdown table with the commit, the seed and the wall times, for docs/evaluation.md.

    python benchmarks/diffusion_success.py --env DexMG/TrayLift-Panda-D0 --demos 50 --episodes 20 \\
        --dp-steps 3000 --channels 32,64,128 --batch-size 64 --lr 1e-3 [--action-mode absolute]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from dexbench.evaluation import evaluate
from dexbench.policies.bc.train import BCConfig, train_bc
from dexbench.policies.diffusion.train import DiffusionConfig, train_diffusion


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="DexMG/TrayLift-Panda-D0")
    ap.add_argument("--data", default=None, help="dataset (default: record --demos scripted demos of --env)")
    ap.add_argument("--demos", type=int, default=50)
    ap.add_argument(
        "--action-mode", default=None, choices=("delta", "absolute"), help="the env's (default: the robot's)"
    )
    ap.add_argument("--episodes", type=int, default=20, help="published seeds evaluated per policy")
    ap.add_argument("--seed", type=int, default=0, help="generation and training seed")
    ap.add_argument("--bc-steps", type=int, default=5_000)
    ap.add_argument("--dp-steps", type=int, default=3_000)
    ap.add_argument("--channels", default="32,64,128")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--prediction", default="sample", choices=("sample", "epsilon"))
    ap.add_argument("--ddim-steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for training")
    ap.add_argument("--workers", type=int, default=1, help="evaluation workers")
    ap.add_argument("--work", default=None, help="folder for the demos and checkpoints (default: a temporary one)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="diffusion_success_"))
    work.mkdir(parents=True, exist_ok=True)
    data = args.data
    env_kwargs = {"action_mode": args.action_mode} if args.action_mode else {}
    if data is None:
        from dexbench.generators.runner import run_generation

        data = work / "demos.hdf5"
        if not data.exists():
            run_generation(
                "scripted", args.env, None, args.demos, data, seed=args.seed, env_kwargs=env_kwargs, progress=False
            )
    channels = tuple(int(c) for c in args.channels.split(","))
    learners = [
        (
            "BC chunking MLP (256x3, defaults)",
            "dexbench.policies:BCPolicy",
            train_bc,
            BCConfig(steps=args.bc_steps, seed=args.seed, threads=args.threads, device="cpu"),
        ),
        (
            f"Diffusion Policy ({args.channels}, {args.prediction}, batch {args.batch_size}, lr {args.lr:g})",
            "dexbench.policies:DiffusionPolicy",
            train_diffusion,
            DiffusionConfig(
                steps=args.dp_steps,
                channels=channels,
                batch_size=args.batch_size,
                lr=args.lr,
                prediction=args.prediction,
                ddim_steps=args.ddim_steps,
                seed=args.seed,
                threads=args.threads,
                device="cpu",
            ),
        ),
    ]
    rows = []
    for name, spec, train, config in learners:
        out = work / spec.split(":")[1]
        report = train(data, out, config, progress=False)
        t0 = time.perf_counter()
        result = evaluate(
            spec,
            args.env,
            episodes=args.episodes,
            policy_kwargs={"checkpoint": str(out)},
            env_kwargs=env_kwargs,
            workers=args.workers,
            progress=False,
        )
        rows.append((name, config.steps, report.wall_s, time.perf_counter() - t0, result))
    print(
        f"\n{args.env} {env_kwargs or ''}, {data} ({args.demos} scripted demos unless --data), seed {args.seed}, "
        f"commit {commit()}, "
        f"torch {torch.__version__}, {args.threads} training thread(s)"
    )
    print("| learner | gradient steps | training (s) | evaluation (s) | success [95 % Wilson] |")
    print("|---|---|---|---|---|")
    for name, steps, train_s, eval_s, r in rows:
        low, high = r["ci95"]
        print(
            f"| {name} | {steps} | {train_s:.0f} | {eval_s:.0f} | {r['successes']} / {r['num_episodes']} = "
            f"{100 * r['success_rate']:.0f} % [{100 * low:.1f}, {100 * high:.1f}] |"
        )


if __name__ == "__main__":
    main()
