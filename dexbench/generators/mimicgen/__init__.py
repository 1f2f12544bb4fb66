"""MimicGen-style generation (the DexMimicGen algorithm): per-arm subtask segments of a few
source demos, carried to new object poses and stitched by interpolation, scheduled per the
task's parallel / coordination / sequential structure; only successful attempts are kept."""

from dexbench.generators.mimicgen.generator import MimicGenConfig, MimicGenGenerator

__all__ = ["MimicGenConfig", "MimicGenGenerator"]
