"""DexEnv: one Gymnasium env for every Task x Embodiment x Layout (D0, D1, D2).

The core knows no task and no robot by name: the task adds objects and judges success, the
embodiment adds the robot and its controller, and this file turns actions into controller
targets, physics into observations, and keeps the API generators and evaluators rely on.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from dexbench.envs.actions import PoseActions, clip
from dexbench.envs.appearance import Appearance
from dexbench.envs.embodiments.base import ARMS, Embodiment, find_ids
from dexbench.envs.objects import VARIANT_FEATURES, ObjectAxis, variant_features
from dexbench.envs.options import EnvOptions
from dexbench.envs.rendering import CameraRenderer, preset_by_name
from dexbench.envs.scene import MAX_RENDER_SIZE, build_scene
from dexbench.envs.tasks.base import Task, TaskSpec, TaskStatus, pose_matrix

MAX_QVEL = 1e3  # joint speeds beyond this mean the simulation blew up
APPEARANCE_STREAM = 0x5EE  # keys the visual factors' random stream apart from the reset's
# MuJoCo's warnings that mean it reset the simulation silently: each ends the episode.
SILENT_RESETS = {
    mujoco.mjtWarning.mjWARN_BADQPOS: "bad position",
    mujoco.mjtWarning.mjWARN_BADQVEL: "bad velocity",
    mujoco.mjtWarning.mjWARN_BADQACC: "bad acceleration",
}


class PhysicsError(RuntimeError):
    pass


class DexEnv(PoseActions, gym.Env):
    """A bimanual dexterous manipulation env (its API: docs/design.md, "The env API").

    Args:
        task: the task class; embodiment: the embodiment instance; variant: the layout, "D0" | "D1" |
            "D2" (the kwarg keeps the name the Gymnasium registration and recorded env specs use).
        obs_mode: "state", "rgb" or "state+rgb". camera_names / image_size: pixel observations.
        render_preset: the look of image observations: "fast" (no shadows, reflections,
            multisampling or skybox, coarser shapes; envs/rendering.py) or "default" (the model's own look).
            Rendering never touches physics: state observations and dynamics do not change.
        control_freq: Hz; horizon: steps per episode (default: the task's).
        reward_type: "sparse" (1 on success) or "dense" (staged progress in [0, 1]).
        action_mode: "delta" (scaled EEF pose change) or "absolute" (world EEF pose);
            default: the embodiment's (Panda arms delta, GR1 absolute).
        terminate_on_success: end the episode on the first successful step.
        object_variants: the object axis: "reference" (the published objects), "random" (one
            variant per object drawn from the seed at every reset) or {object: variant name}.
        visual_factors: visual randomisation (envs/appearance.py): any of "lighting", "textures",
            "object_colors", "camera", "distractors" (or "all"), drawn per reset from the seed. It
            changes images only: states, state observations and dynamics stay bitwise the same.
            Default (): the published look.
        render_mode: "rgb_array" renders `render_camera` at `render_size` (height, width), in the
            default look (videos and task cards).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    # The options as attributes, read from `self.options` (frozen), so an env's options cannot
    # drift from what a dataset records of it.
    layout = property(lambda self: self.options.variant, doc="The D0-D2 layout this env was made with.")
    obs_mode = property(lambda self: self.options.obs_mode)
    reward_type = property(lambda self: self.options.reward_type)
    action_mode = property(lambda self: self.options.action_mode)
    camera_names = property(lambda self: self.options.camera_names)
    image_size = property(lambda self: self.options.image_size)
    render_preset = property(lambda self: self.options.render_preset)
    visual_factors = property(lambda self: self.options.visual_factors)
    control_freq = property(lambda self: self.options.control_freq)
    substeps = property(lambda self: self.options.substeps)
    horizon = property(lambda self: self.options.horizon)
    terminate_on_success = property(lambda self: self.options.terminate_on_success)
    render_camera = property(lambda self: self.options.render_camera)
    render_size = property(lambda self: self.options.render_size)

    def __init__(
        self,
        task: type[Task],
        embodiment: Embodiment,
        variant: str = "D0",
        obs_mode: str = "state",
        camera_names: tuple[str, ...] | list[str] = ("agentview",),
        image_size: int | tuple[int, int] = 84,
        render_preset: str = "fast",
        control_freq: float = 20.0,
        horizon: int | None = None,
        reward_type: str = "sparse",
        action_mode: str | None = None,
        terminate_on_success: bool = False,
        render_mode: str | None = None,
        render_camera: str = "agentview",
        render_size: tuple[int, int] = (256, 256),
        env_id: str | None = None,
        object_variants: str | dict[str, str] = "reference",
        visual_factors: tuple[str, ...] | list[str] | str = (),
    ) -> None:
        given = EnvOptions(
            variant=variant,
            obs_mode=obs_mode,
            camera_names=camera_names,
            image_size=image_size,
            render_preset=render_preset,
            control_freq=control_freq,
            horizon=horizon,
            reward_type=reward_type,
            action_mode=action_mode,
            terminate_on_success=terminate_on_success,
            render_mode=render_mode,
            render_camera=render_camera,
            render_size=render_size,
            object_variants=object_variants,
            visual_factors=visual_factors,
        )
        self.env_id = env_id
        self.task = task(variant, given.object_variants)
        self.embodiment = embodiment
        # The options this env was made with, its task's and robot's defaults filled in: what a
        # dataset records to rebuild it (`options.recorded()`).
        self.options = options = given.resolved(self.task.horizon, embodiment.default_action_mode)
        # Gymnasium's own attribute, which its wrappers read and may set.
        self.render_mode = options.render_mode

        self.mj_spec = build_scene(embodiment, self.task.table_size_m, f"{self.task.name}-{embodiment.name}")
        self.task.add_to(self.mj_spec, embodiment.table_height_m)
        # Only an env that asks for visual factors gets their textures and distractor geoms:
        # the published model stays the published model.
        self.appearance = Appearance(self.visual_factors) if self.visual_factors else None
        if self.appearance is not None:
            self.appearance.add_to(self.mj_spec, embodiment.table_height_m, self.task.table_size_m)
        self.model = self.mj_spec.compile()
        self.data = mujoco.MjData(self.model)
        self.task.bind(self.model, self.data, embodiment, embodiment.table_height_m)
        if self.appearance is not None:
            self.appearance.bind(self.model, self.task.body_ids, self.task.colour_coded)
        self._object_axis = (
            None
            if self.task.object_mode == "reference"
            else ObjectAxis(self.mj_spec, self.task.object_variants, self.model)
        )
        self.controller = embodiment.make_controller(self.model, self.data)
        self._bind_robot()
        self._renderers: dict[tuple[int, int, str], CameraRenderer] = {}  # (height, width, preset)
        for cam in self.camera_names + (render_camera,):
            if mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, cam) < 0:
                raise ValueError(f"unknown camera {cam!r}; this env has {self.available_cameras()}")
        self.action_layout = self._make_action_layout()
        self.action_space = self._make_action_space()
        self.observation_space = self._make_observation_space()
        self._elapsed = 0
        self._rng = np.random.default_rng()

    # ------------------------------------------------------------------------ binding
    def _bind_robot(self) -> None:
        m, emb = self.model, self.embodiment
        self._site_ids = find_ids(m, mujoco.mjtObj.mjOBJ_SITE, [emb.eef_site(a) for a in ARMS])
        self._arm_qpos, self._arm_dof = [], []
        for arm in ARMS:
            joints = find_ids(m, mujoco.mjtObj.mjOBJ_JOINT, emb.arm_joint_names(arm))
            self._arm_qpos.append(m.jnt_qposadr[joints])
            self._arm_dof.append(m.jnt_dofadr[joints])
        home = emb.home_qpos()
        home_joints = find_ids(m, mujoco.mjtObj.mjOBJ_JOINT, list(home))
        self._home_qpos_adr = m.jnt_qposadr[home_joints]
        self._home_qpos = np.array(list(home.values()))
        self._hand_coupling = [emb.hand.coupling(m, f"{arm}_") for arm in ARMS]
        self._hand_qpos = [m.jnt_qposadr[m.actuator_trnid[act_ids, 0]] for act_ids, _, _ in self._hand_coupling]
        self.hand_dim = emb.hand.dim

    def available_cameras(self) -> list[str]:
        return [self.model.camera(i).name for i in range(self.model.ncam)]

    # ------------------------------------------------------------------------ spaces
    def _make_observation_space(self) -> spaces.Dict:
        obs = {}
        if "state" in self.obs_mode:
            for arm, qadr, hand in zip(ARMS, self._arm_qpos, self._hand_qpos):
                obs[f"{arm}_joint_pos"] = len(qadr)
                obs[f"{arm}_joint_vel"] = len(qadr)
                obs[f"{arm}_eef_pos"] = 3
                obs[f"{arm}_eef_quat"] = 4
                obs[f"{arm}_hand_qpos"] = len(hand)
            for name in self.task.objects:
                obs[f"{name}_pose"] = 7
            for name in self.task.articulations:
                obs[f"{name}_pos"] = 1
            for name, options in self.task.choices.items():
                obs[f"{name}_onehot"] = len(options)
            if self.task.object_mode != "reference":
                for name in self.task.object_variants:
                    obs[f"{name}_variant"] = len(VARIANT_FEATURES)
        out: dict[str, spaces.Space] = {
            k: spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float64) for k, n in obs.items()
        }
        if "rgb" in self.obs_mode:
            for cam in self.camera_names:
                out[f"{cam}_image"] = spaces.Box(0, 255, shape=(*self.image_size, 3), dtype=np.uint8)
        return spaces.Dict(out)

    # ------------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None or not hasattr(self, "_seeded"):
            self._rng = np.random.default_rng(seed)
            # The looks' own stream: drawing them never moves the physics draws of `_rng`.
            self._appearance_rng = np.random.default_rng(None if seed is None else [APPEARANCE_STREAM, seed])
            self._seeded = True
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        _clear_warnings(d)
        d.qpos[self._home_qpos_adr] = self._home_qpos
        self.task.initialize_episode(self._rng)
        self._sync_model_with_state()
        if self.appearance is not None:
            self.appearance.new_episode(int(self._appearance_rng.integers(2**63)), d)
        mujoco.mj_forward(m, d)
        self.controller.reset()
        self._write_hand_ctrl([self.embodiment.hand.open_command] * 2)
        self._elapsed = 0
        return self.observation(), self._info(self.task.evaluate())

    def step(self, action):
        action = self._check_action(action)
        pos, rot, hand = self._action_to_targets(action)
        self.controller.set_targets(pos, rot)
        self._write_hand_ctrl(hand)
        physics_error = None
        try:
            self.controller.step(self.substeps)
            # Derived quantities (kinematics, contacts, mass matrix, ...) of the state the step
            # ends in, as after `reset` and `reset_to`: the observation, the success check and the
            # next step see the state itself, not the one a physics step earlier that `mj_step`
            # leaves them at, and a step depends on `get_state()` alone. Position and velocity
            # stages only: nothing here reads accelerations or constraint forces, and `mj_step`
            # computes them afresh (the trajectories are bitwise those of a full `mj_forward`).
            mujoco.mj_fwdPosition(self.model, self.data)
            mujoco.mj_fwdVelocity(self.model, self.data)
            self._check_physics()
        except PhysicsError as err:
            physics_error = str(err)
        self._elapsed += 1
        status = self.task.evaluate()
        success = status.success
        if self.reward_type == "sparse":
            reward = float(success)
        else:
            reward = 1.0 if success else float(self.task.dense_reward(status))
        terminated = bool(success and self.terminate_on_success)
        truncated = self._elapsed >= self.horizon or physics_error is not None
        info = self._info(status)
        if physics_error is not None:
            info["physics_error"] = physics_error
        return self.observation(), reward, terminated, truncated, info

    def _check_physics(self) -> None:
        d = self.data
        counts = d.warning.number  # one array for all warnings (cheaper than one lookup each)
        for warning, what in SILENT_RESETS.items():
            if counts[warning] > 0:
                raise PhysicsError(f"simulation unstable at t={d.time:.3f}s ({what}); the state was reset by MuJoCo")
        if not (np.isfinite(d.qpos).all() and np.abs(d.qvel).max() < MAX_QVEL):
            raise PhysicsError(f"simulation blew up at t={d.time:.3f}s (non-finite or huge velocities)")

    def _write_hand_ctrl(self, hand_commands) -> None:
        ctrl = self.data.ctrl
        for (ids, which, open_closed), cmd in zip(self._hand_coupling, hand_commands):
            frac = (clip(np.asarray(cmd)[which], -1.0, 1.0) + 1.0) * 0.5
            ctrl[ids] = open_closed[:, 0] + (open_closed[:, 1] - open_closed[:, 0]) * frac

    # ------------------------------------------------------------------------ action <-> pose
    # ------------------------------------------------------------------------ queries
    def eef_poses(self) -> dict[str, np.ndarray]:
        d = self.data
        return {arm: pose_matrix(d.site_xpos[sid], d.site_xmat[sid]) for arm, sid in zip(ARMS, self._site_ids)}

    def object_poses(self) -> dict[str, np.ndarray]:
        return self.task.object_poses()

    @property
    def task_spec(self) -> TaskSpec:
        return self.task.task_spec

    def is_success(self) -> bool:
        return bool(self.task.evaluate().success)

    def subtask_signals(self) -> dict[str, bool]:
        return self.task.evaluate().signals

    def get_state(self) -> np.ndarray:
        """The full physics state (qpos, qvel, act, ctrl, warm start, ...): exact replay."""
        state = np.empty(mujoco.mj_stateSize(self.model, mujoco.mjtState.mjSTATE_INTEGRATION))
        mujoco.mj_getState(self.model, self.data, state, mujoco.mjtState.mjSTATE_INTEGRATION)
        return state

    def reset_to(self, state: np.ndarray) -> dict[str, np.ndarray]:
        """Restore a state from `get_state()`; returns the observation there."""
        try:
            state = np.asarray(state, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"state must be an array of numbers from get_state(), got a {type(state).__name__}"
            ) from None
        size = mujoco.mj_stateSize(self.model, mujoco.mjtState.mjSTATE_INTEGRATION)
        if state.shape != (size,):
            raise ValueError(
                f"state has shape {state.shape}, this env's states have shape ({size},): "
                "was it recorded on another env or version?"
            )
        if not np.all(np.isfinite(state)):
            raise ValueError(
                "state has non-finite entries (NaN or inf): it cannot be restored; "
                "was it recorded after a physics error?"
            )
        mujoco.mj_setState(self.model, self.data, state, mujoco.mjtState.mjSTATE_INTEGRATION)
        _clear_warnings(self.data)  # a bad state restored earlier must not end later episodes
        self._sync_model_with_state()
        mujoco.mj_forward(self.model, self.data)
        self.controller.restore()
        self._elapsed = 0
        return self.observation()

    def _sync_model_with_state(self) -> None:
        """The model fields a state implies: the objects' variants, then the task's own."""
        if self._object_axis is not None:
            self._object_axis.apply(self.model, self.task.object_variant_indices())
        self.task.sync_model_with_state()
        if self.appearance is not None:  # the object axis may have rewritten the distractors' rows
            self.appearance.apply()

    # ------------------------------------------------------------------------ observations
    def _info(self, status: TaskStatus) -> dict[str, Any]:
        return {
            "is_success": bool(status.success),
            "subtask_signals": {k: bool(v) for k, v in status.signals.items()},
        }

    def episode_choices(self) -> dict[str, str]:
        """This episode's per-episode choices (e.g. a goal colour), name -> option."""
        return {name: self.task.choice(name) for name in self.task.choices}

    def observation(self) -> dict[str, np.ndarray]:
        """The observation of the current state (what `reset` and `step` return)."""
        d = self.data
        obs: dict[str, np.ndarray] = {}
        if "state" in self.obs_mode:
            for i, arm in enumerate(ARMS):
                sid = self._site_ids[i]
                obs[f"{arm}_joint_pos"] = d.qpos[self._arm_qpos[i]].copy()
                obs[f"{arm}_joint_vel"] = d.qvel[self._arm_dof[i]].copy()
                obs[f"{arm}_eef_pos"] = d.site_xpos[sid].copy()
                quat = np.empty(4)
                mujoco.mju_mat2Quat(quat, d.site_xmat[sid])
                obs[f"{arm}_eef_quat"] = quat
                obs[f"{arm}_hand_qpos"] = d.qpos[self._hand_qpos[i]].copy()
            for name, bid in self.task.body_ids.items():
                obs[f"{name}_pose"] = np.concatenate([d.xpos[bid], d.xquat[bid]])
            for name in self.task.articulations:
                obs[f"{name}_pos"] = np.array([self.task.joint_position(name)])
            for name in self.task.choices:
                obs[f"{name}_onehot"] = self.task.choice_onehot(name)
            if self.task.object_mode != "reference":
                for name in self.task.object_variants:
                    obs[f"{name}_variant"] = variant_features(self.task.object_variant(name))
        if "rgb" in self.obs_mode:
            images = self.camera_renderer(self.image_size, self.render_preset).render(self.data, self.camera_names)
            for cam, image in zip(self.camera_names, images):
                obs[f"{cam}_image"] = image
        return obs

    def camera_renderer(self, size: tuple[int, int], preset: str = "fast") -> CameraRenderer:
        """The env's renderer for images of `size` (height, width) in `preset` (made once, kept)."""
        height, width = size
        if max(height, width) > MAX_RENDER_SIZE:
            raise ValueError(f"image size {size} exceeds the offscreen buffer {MAX_RENDER_SIZE}px")
        key = (height, width, preset_by_name(preset).name)
        renderer = self._renderers.get(key)
        if renderer is None:
            renderer = self._renderers[key] = CameraRenderer(self.model, height, width, preset)
        return renderer

    def render_camera_image(
        self, camera: str, size: tuple[int, int] = (256, 256), preset: str = "default"
    ) -> np.ndarray:
        """An RGB image (H, W, 3) uint8 of a named camera, rendered offscreen (default: the
        model's own look, as task cards and videos show it)."""
        return self.camera_renderer(size, preset).render(self.data, [camera])[0]

    def render(self):
        if self.render_mode == "rgb_array":
            return self.render_camera_image(self.render_camera, self.render_size)
        return None

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()


def _clear_warnings(data: mujoco.MjData) -> None:
    for warning in SILENT_RESETS:
        data.warning[warning].number = 0
