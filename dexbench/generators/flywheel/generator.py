"""The `flywheel` generator (DexFlyWheel): data that grows by learning, from one or a few seed demos.

Iteration 1 (warm-up) carries the seed demos to new placements with mimicgen (reference
objects). Every later iteration i trains the BC base on all the data so far, a residual on the
frozen base (stable-baselines3, `residual.py`), rolls base + residual out on new objects and
placements (the O and P axes; the task's object variants drawn per episode), keeps the
successes, and widens them with mimicgen to new objects and placements. The last iteration's
kept rollouts are the sources of the run's own attempts: the `n` demos `dexbench generate`
asked for. The iterations before are the generator's preparation (`stages.py`), written into
`<out stem>.stages/` and reused by a later run with the same settings, stage by stage.

The object axis is on in every stage (the warm-up with the reference objects), so all the data
observes each object's variant and trains one policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexbench.generators.base import Generator
from dexbench.generators.flywheel.residual import LEARNERS, REWARDS


@dataclass
class FlywheelConfig:
    # Iterations in all, the warm-up first (at least 2: the warm-up, then one that learns).
    iterations: int = 3
    # Demos made by each iteration before the last (the last makes the run's n). DexFlyWheel
    # grows 20, 100, then 500 trajectories.
    budgets: tuple[int, ...] = (20, 100)
    # Multiplies the budgets (at least 1 demo each), for quick runs: 0.2 makes 4 and 20.
    scale: float = 1.0
    # Rollouts of base + residual per learning iteration, on new objects and placements, and of
    # the base alone on the same seeds (what the residual adds); the successes of both are kept.
    rollouts: int = 50
    # BC base: gradient steps per iteration (the rest of BCConfig at its defaults).
    bc_steps: int = 5_000
    # Residual RL: learner ("ppo" or "sac", stable-baselines3; "td3", ours: td3.py), env steps per iteration, scale of
    # the correction (in action units: 1 = 5 cm / 0.5 rad of pose, the full hand range), the
    # steps over which the corrected action's probability rises from 0 to 1, the success bonus,
    # the reward's penalty on the residual's mean square (residual.py says why), and the env
    # steps each correction is held (1: a new one every step; 8 halved the outcomes it flipped
    # both ways, docs/generation.md).
    learner: str = "ppo"
    residual_steps: int = 30_000
    alpha: float = 0.1
    epsilon_steps: int = 10_000
    success_bonus: float = 5.0
    residual_penalty: float = 1.0
    residual_hold: int = 1
    # "dense": the task's staged reward plus the success bonus; "sparse": 1 on success (which ends
    # the episode), so lingering near the goal earns nothing (residual.py)
    residual_reward: str = "dense"
    # td3 only: envs stepping in parallel processes, and where its networks train (auto: CUDA
    # when torch sees one)
    residual_workers: int = 1
    residual_device: str = "auto"

    def __post_init__(self) -> None:
        self.budgets = tuple(int(b) for b in self.budgets)
        if self.iterations < 2:
            raise ValueError(f"iterations must be >= 2 (the warm-up, then one that learns), got {self.iterations}")
        if len(self.budgets) != self.iterations - 1 or min(self.budgets) < 1:
            raise ValueError(
                f"budgets must give the demos (>= 1) of each of the {self.iterations - 1} iterations "
                f"before the last, got {list(self.budgets)}"
            )
        for key in ("rollouts", "bc_steps", "residual_steps", "residual_hold", "residual_workers"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale must be a positive number, got {self.scale}")
        if self.learner not in LEARNERS:
            raise ValueError(f"learner must be one of {LEARNERS}, got {self.learner!r}")
        if self.residual_device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"residual_device must be auto, cpu or cuda, got {self.residual_device!r}")
        if self.residual_reward not in REWARDS:
            raise ValueError(f"residual_reward must be one of {REWARDS}, got {self.residual_reward!r}")
        if (
            not (np.isfinite(self.alpha) and self.alpha > 0)
            or self.epsilon_steps < 0
            or self.success_bonus < 0
            or not self.residual_penalty >= 0
        ):
            raise ValueError(
                "alpha must be > 0, epsilon_steps, success_bonus and residual_penalty >= 0; got "
                f"{self.alpha}, {self.epsilon_steps}, {self.success_bonus}, {self.residual_penalty}"
            )

    def budget(self, iteration: int) -> int:
        """Demos made by `iteration` (1-based; not the last, whose count the run is asked for)."""
        return max(1, round(self.budgets[iteration - 1] * self.scale))


class FlywheelGenerator(Generator):
    """Imitation base + residual RL + rollouts + mimicgen augmentation, iterated."""

    name = "flywheel"
    Config = FlywheelConfig

    def __init__(self, env_id: str, sources, config=None) -> None:
        from dexbench.generators.mimicgen import MimicGenGenerator

        super().__init__(env_id, sources, config)
        self._mimicgen = MimicGenGenerator(env_id, sources)

    def check(self, env) -> None:
        import importlib.util

        if importlib.util.find_spec("stable_baselines3") is None:
            raise ValueError(
                "the flywheel trains its residual with stable-baselines3, which is not installed: "
                "pip install 'dexbench[rl]'"
            )
        if not env.task.object_variants:
            raise ValueError(
                f"{env.env_id}: the flywheel varies objects, and this task declares no object variants "
                "(TrayLift, Pouring and CanSort do); use mimicgen or demo_noise here"
            )
        self._mimicgen.check(env)

    def prepare(self, workdir, seed: int, workers: int, progress: bool, overwrite: bool, backend=None):
        from dexbench.generators.flywheel.stages import run_stages

        return run_stages(
            self, workdir, seed=seed, workers=workers, progress=progress, overwrite=overwrite, backend=backend
        )

    def policy(self, env, rng: np.random.Generator):
        return self._mimicgen.policy(env, rng)
