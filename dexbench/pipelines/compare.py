"""Compare data generators by what they are for: the policy trained on their data
(`dexbench compare`, the central experiment of MimicGen / DexMimicGen).

For each generator: generate `n` demos from the same sources and seed, train the same learner on
them (BC, or the Diffusion Policy: `pipelines/learners.py`, chosen by the config given) and
evaluate it on the published seeds. The `source` row trains on the source
demos alone. Every stage writes its output into the work directory with a record of the settings
that made it (`dexbench.stages`: the sources' and data's content, the generator's full config,
seeds, counts, env kwargs, suite version); a stage whose output is there with the same settings
is skipped, any other runs again, so an interrupted comparison continues where it stopped and a
changed source or config is never passed off as the old result.

Pixel BC (`train_config.obs == "rgb"`): each dataset (the sources too) is rendered with the
`cameras` at `image_size` px into `<row>_rgb.hdf5` (`pipelines/render_obs.py`: resumable, and
the sources are left as they are), the policy trains on those images plus proprioception, and
its evaluation env renders the same cameras (the checkpoint asks for them).

The papers' protocol (`train_seeds` > 1 or `checkpoints` > 1): each dataset trains the policy
with several seeds, keeps several checkpoints per seed, evaluates every checkpoint, and reports
the maximum over checkpoints per seed as mean +- std across seeds. The row's Wilson interval
stays that of the first seed's final checkpoint (one policy, many episodes: the interval the
leaderboards use).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import dexbench
from dexbench.backends import PROCESS, Backend
from dexbench.evaluation.evaluate import evaluate, write_result
from dexbench.jsonio import write_json_atomic
from dexbench.stages import Stage, digest, evaluation_settings, generation_settings, suite_version

SOURCE_ROW = "source"
COMPARE_FORMAT = "dexbench-compare"


def evaluate_checkpoint(
    spec: str,
    checkpoint: Path,
    env_id: str,
    episodes: int,
    workers: int,
    env_kwargs: dict[str, Any],
    out: Path,
    progress: bool,
    backend: Backend = PROCESS,
) -> dict[str, Any]:
    """The evaluation of a checkpoint by the policy `spec` (BC's or the Diffusion Policy's) on the
    published seeds with `env_kwargs`, saved as `out`: reused when `out` was made from this
    checkpoint (its content) with these settings."""
    from dexbench.pipelines.learners import checkpoint_sha256

    sha = checkpoint_sha256(spec, checkpoint)
    stage = Stage(out, evaluation_settings(spec, sha, env_id, env_kwargs, episodes))
    if stage.done():
        return json.loads(out.read_text())
    stage.begin()
    result = evaluate(
        spec,
        env_id,
        episodes=episodes,
        workers=workers,
        policy_kwargs={"checkpoint": str(checkpoint)},
        env_kwargs=env_kwargs,
        progress=progress,
        backend=backend,
    )
    write_result(result, out)
    stage.finish()
    return result


def _with_images(
    data: Path, out: Path, cameras: list[str], size: int, workers: int, progress: bool, backend: Backend
) -> Path:
    """`data` with camera images: `out`, rendered from it; reused when rendered from this `data`
    (its content) with these cameras at this size; an interrupted rendering is continued."""
    from tqdm import tqdm

    from dexbench.datasets import load_dataset
    from dexbench.pipelines.render_obs import render_obs

    stage = Stage(
        out,
        {
            "stage": "render-obs",
            "data": digest(data),
            "cameras": cameras,
            "image_size": size,
            "suite_version": suite_version(),
        },
    )
    if stage.done():
        return out
    with load_dataset(data) as ds:
        total = len(ds)
    stage.begin()
    with tqdm(total=total, desc=f"render-obs {data.stem}", unit="demo", disable=not progress) as bar:
        render_obs(
            data,
            cameras,
            size,
            out=out,
            workers=workers,
            overwrite=True,
            progress=lambda key: bar.update(1),
            backend=backend,
        )
    stage.finish()
    return out


def _check_image_options(env_id: str, cameras: list[str], size: int) -> None:
    """Bad cameras or a bad size fail before the generation stages, not after them."""
    from dexbench.envs.scene import MAX_RENDER_SIZE
    from dexbench.pipelines.render_obs import check_cameras
    from dexbench.policies.bc.vision import ImageEncoder

    if not cameras:
        raise ValueError("no cameras given for pixel BC; name at least one, e.g. --cameras agentview")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_RENDER_SIZE:
        raise ValueError(
            f"--image-size {size!r} is out of range: give a side from 1 to {MAX_RENDER_SIZE} px "
            "(84 is the papers' observation size)"
        )
    check_cameras(env_id, cameras, flag="--cameras")
    ImageEncoder(len(cameras), size)  # raises for images too small for the encoder


def generator_row(spec: str) -> tuple[str, str, dict[str, str]]:
    """(row label, generator name, config overrides) of one `--generators` item: a generator's
    name, or `NAME:KEY=VALUE[:KEY=VALUE...]` for a row with its config changed (e.g.
    `mimicgen:coordination_scheme=transform`, labelled `mimicgen-coordination_scheme-transform`;
    the label names its files in the work directory)."""
    name, *items = spec.split(":")
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value or not (key + value).replace("_", "").replace(".", "").isalnum():
            raise ValueError(
                f"generator row {spec!r}: {item!r} is not KEY=VALUE (letters, digits, _ and . only); "
                "write NAME:KEY=VALUE, e.g. mimicgen:coordination_scheme=transform"
            )
        overrides[key] = value
    label = "-".join([name] + [f"{k}-{v}" for k, v in overrides.items()])
    return label, name, overrides


def compare_generators(
    env_id: str,
    source: str | Path,
    generators: Sequence[str],
    n: int,
    workdir: str | Path,
    episodes: int = 50,
    seed: int = 0,
    workers: int = 1,
    train_config=None,
    include_source: bool = True,
    progress: bool = True,
    train_seeds: int = 1,
    checkpoints: int = 1,
    objects: str = "reference",
    backend: Backend = PROCESS,
    cameras: Sequence[str] = ("agentview",),
    image_size: int = 84,
) -> dict[str, Any]:
    """Run the comparison; returns (and saves as `workdir/compare.json`) one row per dataset.
    `generators`: `--generators` items (`generator_row`), or (label, generator, config overrides)
    for a config the CLI's form cannot write (e.g. a tuple value).
    `train_seeds` policies per dataset (training seeds seed, seed + 1, ...), each evaluated at
    `checkpoints` evenly spaced checkpoints (see the module docstring). `objects="random"`
    evaluates with the task's object variants drawn per episode: the published placements with
    new objects (the flywheel's held-out test set). `backend`: where generation and evaluation
    run their workers (processes here, or Ray tasks). `cameras` and `image_size`: the images of
    pixel BC (`train_config.obs == "rgb"`); unused for state BC."""
    from dexbench.datasets import load_dataset
    from dexbench.envs.registry import lookup
    from dexbench.generators import get_generator
    from dexbench.generators.runner import build_config, run_generation
    from dexbench.pipelines.learners import learner_name, policy_label, policy_spec, resolved
    from dexbench.pipelines.learners import train as train_learner
    from dexbench.policies.bc.train import BCConfig
    from dexbench.policies.checkpoint_folders import finished_training, kept_checkpoints

    entry = lookup(env_id)
    if train_seeds < 1 or checkpoints < 1:
        raise ValueError(f"train_seeds and checkpoints must be >= 1, got {train_seeds} and {checkpoints}")
    if objects not in ("reference", "random"):
        raise ValueError(f"objects must be 'reference' or 'random', got {objects!r}")
    eval_env_kwargs = {} if objects == "reference" else {"object_variants": objects}
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    train_config = resolved(train_config or BCConfig(), checkpoints if checkpoints > 1 else 0)
    learner = learner_name(train_config)
    pixels = getattr(train_config, "obs", "state") == "rgb"
    cameras = list(dict.fromkeys(cameras))
    if pixels:
        _check_image_options(entry.env_id, cameras, image_size)
    protocol = train_seeds > 1 or checkpoints > 1
    with load_dataset(source) as ds:
        num_sources, source_env = len(ds), ds.env_id
    rows = []
    specs = [(SOURCE_ROW, SOURCE_ROW, {})] if include_source else []
    specs += [g if isinstance(g, tuple) else generator_row(g) for g in generators]
    labels = [label for label, _, _ in specs]
    if len(set(labels)) < len(labels):
        raise ValueError(f"the rows {labels} repeat one; name each generator (and config) once")
    for _, generator, overrides in specs[1 if include_source else 0 :]:
        build_config(get_generator(generator), overrides or None)  # a bad generator or key fails now, not hours in
    for name, generator, overrides in specs:
        row: dict[str, Any] = {"data": name, "env_id": entry.env_id}
        if overrides:
            row.update(generator=generator, config=overrides)
        if name == SOURCE_ROW:
            data = Path(source)
            row.update(num_demos=num_sources, attempts=None, generation_success_rate=None, demos_per_cpu_min=None)
        else:
            data = workdir / f"{name}.hdf5"
            report_path = workdir / f"{name}.report.json"
            cls = get_generator(generator)
            stage = Stage(
                data,
                generation_settings(cls, build_config(cls, overrides or None), entry.env_id, None, source, seed, n),
            )
            if stage.done() and report_path.is_file():
                report = json.loads(report_path.read_text())
            else:
                stage.begin()
                report = run_generation(
                    generator,
                    entry.env_id,
                    source,
                    n,
                    data,
                    seed=seed,
                    workers=workers,
                    config=overrides or None,
                    progress=progress,
                    overwrite=True,
                    backend=backend,
                ).to_dict()
                stage.finish()
            row.update(
                num_demos=report["successes"],
                attempts=report["attempts"],
                generation_success_rate=report["success_rate"],
                demos_per_cpu_min=report["demos_per_cpu_minute"],
            )
        if pixels:
            data = _with_images(data, workdir / f"{name}_rgb.hdf5", cameras, image_size, workers, progress, backend)
            row.update(images=str(data))
        per_seed = []
        for k in range(train_seeds):
            config = dataclasses.replace(train_config, seed=train_config.seed + k)
            suffix = f"_seed{config.seed}" if train_seeds > 1 else ""
            ckpt = workdir / f"{learner}_{name}{suffix}"
            training = Stage(
                ckpt,
                {
                    "stage": f"train-{learner}",
                    "data": digest(data),
                    "config": dataclasses.asdict(config),
                    "suite_version": suite_version(),
                },
            )
            if not (training.done() and finished_training(ckpt, config)):
                training.begin()
                train_learner(config, data, ckpt, progress)
                training.finish()
            rates = []
            # The final checkpoint is the directory itself; the kept ones are its step_<N>/.
            paths = kept_checkpoints(ckpt) if checkpoints > 1 else [ckpt]
            for path in paths:
                headline = k == 0 and path == paths[-1]  # the row's own result (and the submission's)
                eval_path = workdir / (f"eval_{name}.json" if headline else f"eval_{name}{suffix}_{path.name}.json")
                result = evaluate_checkpoint(
                    policy_spec(config),
                    path,
                    entry.env_id,
                    episodes,
                    workers,
                    eval_env_kwargs,
                    eval_path,
                    progress,
                    backend,
                )
                rates.append(result["success_rate"])
                if headline:
                    row.update(
                        checkpoint=str(path),
                        eval=str(eval_path),
                        success_rate=result["success_rate"],
                        ci95=result["ci95"],
                        episodes=result["num_episodes"],
                    )
            per_seed.append({"train_seed": train_config.seed + k, "checkpoint_success": rates, "best": max(rates)})
        if protocol:
            best = np.array([s["best"] for s in per_seed])
            row.update(seeds=per_seed, best_mean=float(best.mean()), best_std=float(best.std()))
        rows.append(row)
    summary = {
        "format": COMPARE_FORMAT,
        "format_version": 1,
        "suite_version": dexbench.__version__,
        "env_id": entry.env_id,
        "source": str(source),
        "source_env_id": source_env,
        "num_source_demos": num_sources,
        "n": n,
        "seed": seed,
        "episodes": episodes,
        "train_seeds": train_seeds,
        "checkpoints": checkpoints,
        "objects": objects,
        "policy": policy_label(train_config),
        "learner": learner,
        "train_config": dataclasses.asdict(train_config),
        "rows": rows,
    }
    if pixels:
        summary["images"] = {"cameras": cameras, "image_size": image_size}
    write_json_atomic(workdir / "compare.json", summary)
    return summary


def compare_table(summary: dict[str, Any]) -> str:
    """The comparison as a Markdown table."""
    seeds, ckpts = summary.get("train_seeds", 1), summary.get("checkpoints", 1)
    protocol = seeds > 1 or ckpts > 1
    objects = " with the objects varied" if summary.get("objects", "reference") != "reference" else ""
    images = summary.get("images")
    seen = f" on {', '.join(images['cameras'])} images at {images['image_size']} px" if images else ""
    lines = [
        f"{summary['env_id']}: {summary['policy']}{seen} trained on each dataset, {summary['episodes']} episodes "
        f"on the published seeds{objects} ({summary['num_source_demos']} source demos, seed {summary['seed']})",
        "",
        "| data | demos | generation success | demos / CPU-min | policy success [95 % CI] |"
        + (f" best of {ckpts} checkpoints, mean +- std over {seeds} training seeds |" if protocol else ""),
        "|---|---|---|---|---|" + ("---|" if protocol else ""),
    ]
    for r in summary["rows"]:
        gen = "-" if r["generation_success_rate"] is None else f"{100 * r['generation_success_rate']:.1f} %"
        speed = "-" if r["demos_per_cpu_min"] is None else f"{r['demos_per_cpu_min']:.1f}"
        lo, hi = r["ci95"]
        line = (
            f"| {r['data']} | {r['num_demos']} | {gen} | {speed} | "
            f"{100 * r['success_rate']:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}] |"
        )
        if protocol:
            line += f" {100 * r['best_mean']:.1f} +- {100 * r['best_std']:.1f} % |"
        lines.append(line)
    return "\n".join(lines)
