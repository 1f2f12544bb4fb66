"""Plot initial object positions of the source demos (D0) against generated D1 / D2 demos.

    python docs/plot_spread.py --gen /tmp/gen      # after benchmarks/generation.py --out /tmp/gen

Writes docs/images/spread.png: one panel per (task, embodiment) shown, every object's initial xy
(table frame) in the sources (large markers) and in the generated D1 and D2 datasets.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from dexbench.datasets.reader import load_dataset

PAIRS = (("TrayLift", "PandaDex", ("tray", "cube_right", "cube_left")), ("Pouring", "GR1", ("cup", "bowl")))
COLORS = {"D0": "black", "D1": "tab:blue", "D2": "tab:orange"}


def initial_xy(path: Path, obj: str):
    with load_dataset(path) as ds:
        return [ds.array(k, f"datagen_info/object_pose/{obj}")[0, :2, 3] for k in ds.keys]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gen", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "images" / "spread.png")
    args = parser.parse_args()
    fig, axes = plt.subplots(1, len(PAIRS), figsize=(6 * len(PAIRS), 5.5))
    for ax, (task, emb, objects) in zip(axes, PAIRS):
        files = {"D0": args.gen / "sources" / f"{task}-{emb}.hdf5"}
        files.update({v: args.gen / f"{task}-{emb}-{v}.hdf5" for v in ("D1", "D2")})
        for variant, path in files.items():
            if not path.exists():
                continue
            for k, obj in enumerate(objects):
                xy = initial_xy(path, obj)
                xs, ys = [p[1] for p in xy], [p[0] for p in xy]  # plot y across, x up (robot below)
                ax.scatter(
                    xs,
                    ys,
                    s=70 if variant == "D0" else 14,
                    c=COLORS[variant],
                    marker="os^"[k % 3],
                    alpha=0.9 if variant == "D0" else 0.5,
                    label=f"{obj} {'sources (D0)' if variant == 'D0' else 'generated ' + variant}",
                )
        ax.set_title(f"{task}-{emb}: initial object positions")
        ax.set_xlabel("y (m, table frame; right arm side negative)")
        ax.set_ylabel("x (m, away from the robot)")
        ax.set_xlim(0.45, -0.45)
        ax.set_ylim(-0.42, 0.42)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", ncol=1)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
