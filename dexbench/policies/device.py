"""Which torch device a learner runs on: `--device auto|cpu|cuda`, shared by every learner (BC,
pixel BC, diffusion, the flywheel's residual) and by the policies that load their checkpoints."""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda")
DEVICE_HELP = "where to train: auto (default; CUDA when torch sees a GPU, else the CPU), cpu or cuda"


def resolve_device(device: str) -> str:
    """`auto` -> "cuda" when torch sees a CUDA device, else "cpu"; `cuda` without one is refused
    with the fix, so a run asked for a GPU never trains on the CPU unnoticed."""
    import torch

    if device not in DEVICES:
        raise ValueError(f"device (--device) must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device cuda was asked for, but torch sees no CUDA device (torch {torch.__version__}: a "
            "CPU-only build, or no GPU): use --device cpu (or auto), or install a CUDA build of torch "
            "(README)"
        )
    return device
