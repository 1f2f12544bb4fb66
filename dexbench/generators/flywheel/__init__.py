"""The flywheel generator (DexFlyWheel): imitation base + residual RL + rollouts + augmentation."""

from dexbench.generators.flywheel.generator import FlywheelConfig, FlywheelGenerator

__all__ = ["FlywheelConfig", "FlywheelGenerator"]
