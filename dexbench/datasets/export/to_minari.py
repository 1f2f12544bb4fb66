"""Export to a Minari dataset (https://minari.farama.org), written with the minari package.

`out` is a Minari dataset directory: `out/data/{metadata.json, main_data.hdf5}`. Load it with
`minari.MinariDataset("out/data")`, or put it under `$MINARI_DATASETS_PATH` (default
`~/.minari/datasets`) and `minari.load_dataset("<dataset id>")`: the id is the directory's name
(`<name>-v0` when the name carries no `-v<version>`).

Mapping: one Minari episode per demo, in demo order. Observations are a `Dict` space of the
stored keys (T + 1 rows: Minari keeps the observation after the last action), with the env's
bounds and the stored dtypes; actions in the env's float32 Box; images are stored losslessly
(Minari's JPEG encoding is off).
Rewards as stored; `terminations[-1]` when the demo ended in success (or the env terminated),
`truncations[-1]` otherwise (horizon, policy done, physics error). The env spec is the
registered `DexMG/...` id with the dataset's env kwargs, so `recover_environment()` makes the
same env. Each episode's metadata holds its demo key and attrs (variant, generator, source demo,
success, end reason); the dataset's metadata holds the provenance under `dexbench`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import minari
import numpy as np
from minari.data_collector import EpisodeBuffer
from minari.dataset.minari_dataset import DATASET_ID_RE
from minari.dataset.minari_storage import MinariStorage
from tqdm import tqdm

from dexbench.datasets.export import ExportSource

DATA_DIR = "data"  # Minari's layout: <datasets root>/<dataset id>/data


def dataset_id_for(name: str) -> str:
    """A valid Minari dataset id from a directory name (`name-v0` when it has no version)."""
    if DATASET_ID_RE.fullmatch(name) and re.search(r"-v\d+$", name):
        return name
    stem = re.sub(r"[^-\w]", "_", name) or "dexbench"
    return f"{stem}-v0"


def _episode_metadata(key: str, attrs: dict[str, Any]) -> dict[str, Any]:
    meta = {"dexbench_demo": key}
    for name, value in attrs.items():
        if name in ("seed", "num_samples"):  # the seed is Minari's own episode attribute
            continue
        meta[f"dexbench_{name}"] = value if isinstance(value, (bool, int, float, str, np.generic)) else str(value)
    return meta


def export(source: ExportSource, out: Path, final: Path, progress: bool = False) -> dict[str, Any]:
    """Write the export into `out` (a staging path, renamed to `final` once complete)."""
    name = final.name
    dataset_id = dataset_id_for(name)
    out.mkdir()
    storage = MinariStorage.new(
        out / DATA_DIR,
        observation_space=source.observation_space,
        action_space=source.action_space,
        env_spec=source.env_spec(),
        jpeg_encoding=False,
    )  # lossless: the images are the data
    metadatas = []
    for episode in tqdm(source.episodes(), total=len(source.reader), desc="minari", disable=not progress):
        seed = int(episode.attrs.get("seed", -1))
        storage.update_episodes(
            [
                EpisodeBuffer(
                    seed=seed if seed >= 0 else None,
                    observations=episode.observations,
                    actions=episode.actions,
                    rewards=episode.rewards,
                    terminations=episode.terminations,
                    truncations=episode.truncations,
                )
            ]
        )
        metadatas.append(_episode_metadata(episode.key, episode.attrs))
    storage.update_episode_metadata(metadatas)
    meta = source.metadata()
    storage.update_metadata(
        {
            "dataset_id": dataset_id,
            "minari_version": minari.__version__,
            "algorithm_name": ", ".join(sorted({str(m.get("dexbench_generator", "?")) for m in metadatas})),
            "description": f"{meta['env_id']}: {len(metadatas)} demos exported from {Path(meta['source_path']).name} "
            f"(sha256 {meta['source_sha256'][:12]}) by dexbench {meta['suite_version']}",
            "requirements": [f"dexbench=={meta['suite_version']}"]
            + ([f"mujoco=={meta['mujoco_version']}"] if meta["mujoco_version"] else []),
            "dexbench": meta,
        }
    )
    if dataset_id == name:
        where = f"or minari.load_dataset({dataset_id!r}) with MINARI_DATASETS_PATH={str(final.parent)!r}"
    else:
        where = f"or move it to $MINARI_DATASETS_PATH/{dataset_id} and minari.load_dataset({dataset_id!r})"
    return {"dataset_id": dataset_id, "load": f"minari.MinariDataset({str(final / DATA_DIR)!r}), {where}"}
