"""`demo_noise`: replay a source demo's actions with Gaussian action noise, from that source's
own initial state (the simplest data-generation baseline).

Each attempt picks a source demo, restores its recorded initial state (`env.reset_to`), and
replays its actions with i.i.d. Gaussian noise added to every step; the runner keeps the
successful replays. Because the scene is the source's own, it can only produce data for the
layout the sources were recorded on: D0. It cannot target D1/D2 (objects elsewhere), which is
what object-centric generators such as `mimicgen` are for; `check` says so.

Noise units: for delta actions (Panda arms) `noise_scale` is in normalised action units, as
MimicGen's action noise (0.05 -> 2.5 mm and 0.025 rad per step). For absolute actions (GR1,
metres and axis-angle radians) the same normalised noise is mapped through the delta-action
scales: position noise `noise_scale * 0.05` m and rotation noise `noise_scale * 0.5` rad (a
rotation about a random axis composed onto the commanded orientation), so one `noise_scale`
means the same physical jitter on every embodiment. Hand slots are normalised commands in
[-1, 1] on every embodiment; they get noise only with `noise_hands=true`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial.transform import Rotation

# The delta-action scales of DexEnv: 1 normalised unit = 5 cm / 0.5 rad.
from dexbench.envs.actions import DELTA_POS_SCALE_M, DELTA_ROT_SCALE_RAD
from dexbench.envs.embodiments.base import ARMS
from dexbench.generators.base import AttemptInfo, Generator


@dataclasses.dataclass
class DemoNoiseConfig:
    noise_scale: float = 0.05  # std of the Gaussian action noise, normalised action units (see module doc)
    noise_hands: bool = False  # also add noise to the hand commands (default: pose slots only)
    source_selection: str = "random"  # "random": a uniformly random source demo per attempt

    def __post_init__(self) -> None:
        if not self.noise_scale >= 0:
            raise ValueError(f"noise_scale must be >= 0, got {self.noise_scale}")
        if self.source_selection not in ("random",):
            raise ValueError(f"source_selection must be 'random', got {self.source_selection!r}")


class DemoNoiseGenerator(Generator):
    """Replays source demos with Gaussian action noise from their own (D0) initial states."""

    name = "demo_noise"
    description = "Noisy replay: a source demo replayed from its own initial state with Gaussian action noise."
    Config = DemoNoiseConfig

    def __init__(self, env_id: str, sources, config=None) -> None:
        super().__init__(env_id, sources, config)
        self.source_keys = list(sources.keys)
        if not self.source_keys:
            raise ValueError(f"{sources.path} holds no demos: demo_noise needs at least one source demo")
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def check(self, env) -> None:
        env = getattr(env, "unwrapped", env)
        if env.layout != "D0":
            raise ValueError(
                f"demo_noise cannot generate {env.layout} data ({env.env_id}): it replays each source demo "
                "from that demo's own recorded initial state, and source demos are D0 states, so every demo "
                f"it makes is a D0 scene. {env.layout} needs object placements the sources never saw: use an "
                "object-centric generator such as `mimicgen` (which adapts source segments to new object "
                "poses), or target the D0 env."
            )
        src_env = self.sources.env_id
        if src_env != env.env_id:
            raise ValueError(
                f"demo_noise replays source states and actions exactly, so the sources must come "
                f"from the target env: the sources are {src_env}, the target is {env.env_id}"
            )

    def source(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(actions (T, A), initial state) of source demo `index` (cached)."""
        if index not in self._cache:
            key = self.source_keys[index]
            actions = np.asarray(self.sources.array(key, "actions"), dtype=np.float64)
            state0 = np.asarray(self.sources.array(key, "states")[0], dtype=np.float64)
            self._cache[index] = (actions, state0)
        return self._cache[index]

    def policy(self, env, rng: np.random.Generator) -> DemoNoisePolicy:
        index = int(rng.integers(len(self.source_keys)))
        actions, state0 = self.source(index)
        return DemoNoisePolicy(getattr(env, "unwrapped", env), actions, state0, index, self.config, rng)


class DemoNoisePolicy:
    """One attempt: restore the source's initial state, then replay its actions plus noise.
    After the source's last action it holds (zero delta / the last absolute pose, no noise)."""

    def __init__(
        self,
        env,
        actions: np.ndarray,
        initial_state: np.ndarray,
        source_index: int,
        config: DemoNoiseConfig,
        rng: np.random.Generator,
    ) -> None:
        self.env, self.actions, self.initial_state = env, actions, initial_state
        self.source_index, self.config, self.rng = source_index, config, rng
        self.low = env.action_space.low.astype(np.float64)
        self.high = env.action_space.high.astype(np.float64)
        self.subtasks = {arm: list(env.task_spec.subtasks.get(arm, ())) for arm in ARMS}
        self.done = False

    def reset(self, seed: int | None = None) -> None:
        self.env.reset_to(self.initial_state)  # the source's own scene, whatever the seed
        self.t = 0
        self.done = False

    def _noisy(self, action: np.ndarray) -> np.ndarray:
        scale = self.config.noise_scale
        action = action.copy()
        if scale > 0:
            layout = self.env.action_layout
            for arm in ARMS:
                s = layout[f"{arm}_pose"]
                if self.env.action_mode == "delta":
                    action[s] += scale * self.rng.standard_normal(6)
                else:
                    pose = action[s]
                    pose[:3] += scale * DELTA_POS_SCALE_M * self.rng.standard_normal(3)
                    turn = Rotation.from_rotvec(scale * DELTA_ROT_SCALE_RAD * self.rng.standard_normal(3))
                    pose[3:] = (turn * Rotation.from_rotvec(pose[3:])).as_rotvec()
                    action[s] = pose
                if self.config.noise_hands:
                    h = layout[f"{arm}_hand"]
                    action[h] += scale * self.rng.standard_normal(h.stop - h.start)
        return np.clip(action, self.low, self.high)

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        T = len(self.actions)
        if self.t < T:
            action = self._noisy(self.actions[self.t])
        else:  # hold: the last hand command, no pose change
            action = self.actions[-1].copy()
            if self.env.action_mode == "delta":
                for arm in ARMS:
                    action[self.env.action_layout[f"{arm}_pose"]] = 0.0
        self.t += 1
        self.done = self.t >= T
        return action

    def attempt_info(self) -> AttemptInfo:
        return AttemptInfo(
            source_demos={
                arm: [self.source_index] * len(subtasks) for arm, subtasks in self.subtasks.items() if subtasks
            }
        )
