"""A summary of a dataset (what `dexbench dataset info` prints)."""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import numpy as np


def dataset_info(path: str | os.PathLike) -> dict[str, Any]:
    """Demos, lengths, layouts (D0, D1, D2), generators, sources and the generation record of a dataset."""
    from dexbench.datasets.reader import load_dataset

    with load_dataset(path) as ds:
        attrs = ds.attrs
        keys = ds.keys
        lengths = [ds.num_samples(k) for k in keys]
        demo_attrs = [ds.demo_attrs(k) for k in keys]
        record = None
        if "generation" in attrs:
            try:
                record = json.loads(attrs["generation"])
            except (TypeError, ValueError):
                record = None
        info = {
            "path": str(ds.path),
            "env_id": ds.env_id,
            "env_kwargs": ds.env_kwargs,
            "complete": ds.complete,
            "demos": len(keys),
            "attempts": ds.attempts,
            "lengths": {
                "min": min(lengths),
                "mean": float(np.mean(lengths)),
                "max": max(lengths),
                "total": int(sum(lengths)),
            }
            if lengths
            else None,
            "layouts": dict(Counter(str(a.get("variant", "?")) for a in demo_attrs)),
            "generators": dict(Counter(str(a.get("generator", "?")) for a in demo_attrs)),
            "source_demos": dict(
                sorted(
                    Counter(
                        int(a.get("source_demo", -1)) for a in demo_attrs if int(a.get("source_demo", -1)) >= 0
                    ).items()
                )
            ),
            "obs_keys": ds.obs_keys(),
            "masks": {k: len(v) for k, v in ds.masks.items()},
            "mujoco_version": attrs.get("mujoco_version"),
            "dexbench_version": attrs.get("dexbench_version"),
        }
        if record is not None:
            meta = record.get("meta", {})
            info["generation"] = {
                "generator": meta.get("generator"),
                "seed": meta.get("seed"),
                "workers": meta.get("workers"),
                "config": meta.get("config"),
                "requested": record.get("requested"),
                "source": record.get("source"),
            }
    return info
