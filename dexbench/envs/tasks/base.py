"""What every task provides, and the mechanics shared by all tasks (placement, contacts, grasps).

A task file reads top to bottom: a docstring in three parts (Task Description, Randomizations,
Success Conditions), its layouts table (D0, D1, D2), its objects, `evaluate()` (the single source
of truth for success and every subtask signal, returned apart as a `TaskStatus`), its subtask spec
(`task_spec`) and its dense reward.

Names: a *layout* is one of a task's reset distributions (D0, D1, D2: the `-D<k>` of an env id); a
*variant* is only ever an object's (the O axis, `ObjectVariant`); `task_spec` is the `TaskSpec` (the
subtasks), `mj_spec` the `mujoco.MjSpec` the scene is built in.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import mujoco
import numpy as np
from scipy.spatial.transform import Rotation

from dexbench.envs.embodiments.base import ARMS, Embodiment
from dexbench.envs.objects import ObjectVariant


# ----------------------------------------------------------------------------- subtask spec
@dataclass(frozen=True)
class Subtask:
    """One object-centric segment of an arm's motion; it ends on the first 0 -> 1 edge of
    `term_signal` (the last subtask of an arm ends with the demo)."""

    name: str
    object_ref: str | None  # object whose frame the motion is relative to
    term_signal: str
    # Carry only the motion's positions to the object's frame and keep the source's hand
    # orientation: for motions that work with any hand heading (a fist pushing), where turning
    # the wrist with the frame could take it out of reach.
    keep_orientation: bool = False
    # The object the arm holds through this subtask (the needle it threads, the piece it
    # seats), if any: a generator may carry the motion by where that object sits in the hand
    # now rather than where it sat in the source.
    held: str | None = None
    # A signal that marks where the subtask's own motion begins: what the source did between the
    # previous subtask's end and this signal's first step is a transit (e.g. carrying a lid
    # across the table to over the box), which depends on where the objects were rather than
    # on the reference object's frame. A generator may move there directly instead of carrying
    # that motion (SkillMimicGen's transit).
    start_signal: str | None = None


@dataclass(frozen=True)
class Coordination:
    """Subtasks of both arms that must end on the same step (a shared transform or a replay)."""

    subtasks: dict[str, str]  # arm -> subtask name
    # "transform": one shared object-centric transform; "translate": its translation only;
    # "replay": the source poses as they were (hand-overs).
    scheme: str = "transform"


@dataclass(frozen=True)
class Sequential:
    """`pre` (arm, subtask) must be done before `post` (arm, subtask) starts."""

    pre: tuple[str, str]
    post: tuple[str, str]


@dataclass(frozen=True)
class TaskStatus:
    """What `Task.evaluate()` returns: whether the task is done, and every subtask signal
    (name -> bool, in the task's order), apart."""

    success: bool
    signals: dict[str, bool]


@dataclass(frozen=True)
class TaskSpec:
    subtasks: dict[str, tuple[Subtask, ...]]
    coordination: tuple[Coordination, ...] = ()
    sequential: tuple[Sequential, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def signal_names(self) -> list[str]:
        return sorted({s.term_signal for arm in self.subtasks.values() for s in arm})


# ----------------------------------------------------------------------------- randomisation
@dataclass(frozen=True)
class Placement:
    """Uniform reset range of one body's pose on the table, relative to the table centre
    (m, rad); a range whose ends are equal is a fixed value."""

    x: tuple[float, float]
    y: tuple[float, float]
    yaw: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def at(cls, x: float, y: float, yaw: float = 0.0) -> Placement:
        """A fixed pose."""
        return cls((x, x), (y, y), (yaw, yaw))

    def sample(self, rng: np.random.Generator) -> tuple[float, float, float]:
        return (rng.uniform(*self.x), rng.uniform(*self.y), rng.uniform(*self.yaw))


@dataclass(frozen=True)
class Layout:
    """One reset distribution of a task (D0, D1, D2), drawn in this order at every reset:

    - `placements`: free objects, resting on the table at a pose in their range;
    - `scenery`: immovable bodies (a cabinet, a pad) at a pose in their range (a fixed pose is a
      range of one value). They are mocap bodies, so their pose is part of the physics state
      and `reset_to` restores it;
    - `joints`: articulated joints (a drawer's slide, a lid's hinge) at a position (m or rad) in
      their range;
    - the task's `choices` (a discrete goal such as a colour), uniformly;
    - only in an env made with `object_variants="random"`: each object's variant (the O axis)."""

    description: str
    placements: dict[str, Placement]
    scenery: dict[str, Placement] = field(default_factory=dict)
    joints: dict[str, tuple[float, float]] = field(default_factory=dict)


def pose_matrix(pos: np.ndarray, mat: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = np.asarray(mat).reshape(3, 3)
    out[:3, 3] = pos
    return out


def ring_wall(
    body: mujoco.MjsBody, radius: float, height: float, walls: int, thickness: float, z0: float, **geom
) -> None:
    """A round wall (a cup's, a bowl's) of `walls` boxes standing at height `z0` in `body`:
    cheaper contacts than a mesh, and the overlapping boxes leave no gap a ball could leak through."""
    half_width = radius * np.tan(np.pi / walls) * 1.15
    for k in range(walls):
        angle = 2 * np.pi * k / walls
        body.add_geom(
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[thickness / 2, half_width, height / 2],
            pos=[(radius - thickness / 2) * np.cos(angle), (radius - thickness / 2) * np.sin(angle), z0 + height / 2],
            quat=[np.cos(angle / 2), 0, 0, np.sin(angle / 2)],
            **geom,
        )


def box_between(body: mujoco.MjsBody, lo, hi, **geom) -> None:
    """A box geom spanning the corners `lo` .. `hi` (body frame): panels, walls, floors."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    body.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=(hi - lo) / 2, pos=(hi + lo) / 2, **geom)


# ----------------------------------------------------------------------------- the task
class Task(abc.ABC):
    """A manipulation task on any embodiment. Subclasses fill the class attributes and the
    abstract methods; the env calls `build`, `bind`, `initialize_episode`, `evaluate`."""

    name: ClassVar[str]
    horizon: ClassVar[int]  # steps at 20 Hz (the reference's training horizon)
    table_size_m: ClassVar[tuple[float, float]] = (0.8, 0.8)
    layouts: ClassVar[dict[str, Layout]]  # "D0", "D1", "D2" -> its reset distribution
    task_spec: ClassVar[TaskSpec]
    objects: ClassVar[tuple[str, ...]]  # bodies whose poses are observed (free or scenery)
    native_embodiment: ClassVar[str]
    embodiments: ClassVar[tuple[str, ...]] = ("Panda", "PandaDex", "GR1")  # the ids registered
    articulations: ClassVar[tuple[str, ...]] = ()  # joints whose positions are observed
    # Per-episode discrete choices: name -> options, one drawn uniformly at every reset and shown
    # in the observation as a one-hot `<name>` vector (kept in MuJoCo's userdata, so it is part
    # of the physics state and `reset_to` restores it).
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}
    # The object axis (O): per free object, the variants it may take, the reference first (see
    # `dexbench.envs.objects`). Only an env made with `object_variants` other than "reference"
    # uses them.
    object_variants: ClassVar[dict[str, tuple[ObjectVariant, ...]]] = {}
    # Facts a task remembers across steps (e.g. "the can has been in the placing hand"): flags in
    # MuJoCo's userdata, so part of the state (`reset_to` restores them), cleared at every reset.
    latches: ClassVar[tuple[str, ...]] = ()
    # Objects whose colour is part of the task (a can to sort by its colour, the bins of each
    # colour): the `object_colors` visual factor leaves them as they are.
    colour_coded: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        # A task written against the old names fails where it is defined, not at its first reset.
        super().__init_subclass__(**kwargs)
        for old, new in (("spec", "task_spec"), ("variants", "layouts")):
            if old in vars(cls):
                raise TypeError(f"task {cls.__name__}: the class attribute {old!r} is now {new!r}")

    def __init__(self, layout: str, object_variants: str | dict[str, str] = "reference") -> None:
        if layout not in self.layouts:
            raise ValueError(f"{self.name} has no layout {layout!r}; choose one of {list(self.layouts)}")
        self.layout_name = layout
        self.layout = self.layouts[layout]
        self.object_mode = _check_object_mode(self, object_variants)

    # -- building ------------------------------------------------------------------------
    @abc.abstractmethod
    def build(self, mj_spec: mujoco.MjSpec, table_top_z: float) -> None:
        """Add the task's objects (free bodies named as in `objects`) and scenery (top-level
        bodies with `mocap=True`, placed by the layouts' `scenery` ranges)."""

    def add_to(self, mj_spec: mujoco.MjSpec, table_top_z: float) -> None:
        """What the env calls: the task's bodies, and room in the state for its choices."""
        self.build(mj_spec, table_top_z)
        mj_spec.nuserdata = (
            len(self.choices)
            + len(self.latches)
            + (len(self.object_variants) if self.object_mode != "reference" else 0)
        )

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData, embodiment: Embodiment, table_top_z: float) -> None:
        """Cache ids once after compiling; hot paths then never look names up."""
        self.model, self.data, self.table_top_z = model, data, table_top_z
        self.body_ids = {n: model.body(n).id for n in self.objects}
        free = {n: i for n, i in self.body_ids.items() if model.body_jntadr[i] >= 0}  # fixed scenery has no joint
        self._free_qpos = {n: int(model.jnt_qposadr[model.body_jntadr[i]]) for n, i in free.items()}
        self._free_dof = {n: int(model.jnt_dofadr[model.body_jntadr[i]]) for n, i in free.items()}
        self.hand_sides = {}
        for arm in ARMS:
            side_a = [model.body(f"{arm}_{b}").id for b in embodiment.hand.side_a_bodies]
            side_b = [model.body(f"{arm}_{b}").id for b in embodiment.hand.side_b_bodies]
            self.hand_sides[arm] = (np.array(side_a), np.array(side_b))
        self.hand_body_ids = {arm: np.concatenate(self.hand_sides[arm]) for arm in ARMS}
        self.hook_links = embodiment.hand.hook_grasp_links
        self._geom_body = model.geom_bodyid.copy()
        self._touching = np.zeros((model.nbody, model.nbody), dtype=bool)
        self._mocap = {}
        for layout in self.layouts.values():
            for name in layout.scenery:
                mocap = int(model.body_mocapid[model.body(name).id])
                if mocap < 0:
                    raise ValueError(f"{self.name}: scenery body {name!r} must be a top-level body with mocap=True")
                self._mocap[name] = mocap
        joints = set(self.articulations).union(*(layout.joints for layout in self.layouts.values()))
        self._joint_qpos = {n: int(model.jnt_qposadr[model.joint(n).id]) for n in joints}
        self._joint_dof = {n: int(model.jnt_dofadr[model.joint(n).id]) for n in joints}

    # -- episode -------------------------------------------------------------------------
    def initialize_episode(self, rng: np.random.Generator) -> None:
        """Draw the layout's reset distribution (see `Layout` for what and in which order)."""
        for name, placement in self.layout.placements.items():
            x, y, yaw = placement.sample(rng)
            self.set_object_pose(name, x, y, yaw)
        for name, placement in self.layout.scenery.items():
            x, y, yaw = placement.sample(rng)
            mocap = self._mocap[name]
            self.data.mocap_pos[mocap] = (x, y, self.table_top_z + self.rest_height(name))
            self.data.mocap_quat[mocap] = Rotation.from_euler("z", yaw).as_quat(scalar_first=True)
        for name, (lo, hi) in self.layout.joints.items():
            self.data.qpos[self._joint_qpos[name]] = rng.uniform(lo, hi)
            self.data.qvel[self._joint_dof[name]] = 0.0
        for k, options in enumerate(self.choices.values()):
            self.data.userdata[k] = rng.integers(len(options))
        if self.object_mode == "reference":
            return
        for k, (name, options) in enumerate(self.object_variants.items()):
            if self.object_mode == "random":
                index = int(rng.integers(len(options)))
            else:
                index = next((i for i, o in enumerate(options) if o.name == self.object_mode.get(name)), 0)
            self.data.userdata[self._object_variants_at + k] = index
            # Placed for the reference object: a resized one rests higher or lower.
            self.data.qpos[self._free_qpos[name] + 2] += self.resting_height(name) - self.rest_height(name)

    def object_variant_indices(self) -> tuple[int, ...]:
        """The state's object variant per object of `object_variants` (all 0 in reference mode)."""
        if self.object_mode == "reference":
            return (0,) * len(self.object_variants)
        at = self._object_variants_at
        return tuple(int(v) for v in self.data.userdata[at : at + len(self.object_variants)])

    @property
    def _object_variants_at(self) -> int:
        return len(self.choices) + len(self.latches)

    def latch(self, name: str, now: bool) -> bool:
        """Set the latch `name` if `now` holds; whether it has held at any step of this episode."""
        k = len(self.choices) + self.latches.index(name)
        if now:
            self.data.userdata[k] = 1.0
        return bool(self.data.userdata[k])

    def object_variant(self, name: str) -> ObjectVariant | None:
        """The variant the object has in this episode (None for an object without variants)."""
        if name not in self.object_variants:
            return None
        return self.object_variants[name][self.object_variant_indices()[list(self.object_variants).index(name)]]

    def resting_height(self, name: str) -> float:
        """`rest_height` for the object as it is this episode (a variant scales its height)."""
        variant = self.object_variant(name)
        return self.rest_height(name) * (variant.scale_z if variant else 1.0)

    def sync_model_with_state(self) -> None:  # noqa: B027 - an optional hook, empty for most tasks
        """Set the model fields that follow from the state, e.g. a can's colour from its drawn
        `choices` entry. The env calls it after every reset and every `reset_to`: a restored
        state carries the choice (userdata), not the model fields that show it."""

    def set_object_pose(self, name: str, x: float, y: float, yaw: float, z: float | None = None) -> None:
        adr = self._free_qpos[name]
        z = self.table_top_z + self.resting_height(name) if z is None else z
        self.data.qpos[adr : adr + 3] = (x, y, z)
        self.data.qpos[adr + 3 : adr + 7] = Rotation.from_euler("z", yaw).as_quat(scalar_first=True)
        dof = self._free_dof[name]
        self.data.qvel[dof : dof + 6] = 0.0

    def rest_height(self, name: str) -> float:
        """Height (m) of the body's origin above the table top when it rests there."""
        return 0.0

    # -- physics queries shared by all tasks -------------------------------------------------
    def update_contacts(self) -> None:
        """Refresh the body-pair contact table from the current contacts (once per evaluate)."""
        touching = self._touching
        touching[:] = False
        n = self.data.ncon
        if n:
            geom = self.data.contact.geom[:n]
            b1, b2 = self._geom_body[geom[:, 0]], self._geom_body[geom[:, 1]]
            touching[b1, b2] = True
            touching[b2, b1] = True

    def touching(self, body_a: int, bodies_b: np.ndarray | int) -> bool:
        return bool(self._touching[body_a, bodies_b].any())

    def is_grasped(self, arm: str, body: int) -> bool:
        """Both sides of the arm's hand (thumb/palm vs fingers, or the two jaws) touch `body`,
        or a hand that can hook (`Hand.hook_grasp_links` > 0) touches it with that many finger
        links (a bar hangs on curled fingers without touching thumb or palm)."""
        side_a, side_b = self.hand_sides[arm]
        if self.touching(body, side_b) and self.touching(body, side_a):
            return True
        hook = self.hook_links
        return hook > 0 and int(self._touching[body, side_b].sum()) >= hook

    def touched_by_hand(self, arm: str, body: int) -> bool:
        return self.touching(body, self.hand_body_ids[arm])

    def joint_position(self, name: str) -> float:
        """Position of an articulated joint (m for a slide, rad for a hinge)."""
        return float(self.data.qpos[self._joint_qpos[name]])

    def choice(self, name: str) -> str:
        """This episode's option of the choice `name`."""
        return self.choices[name][int(self.data.userdata[list(self.choices).index(name)])]

    def choice_onehot(self, name: str) -> np.ndarray:
        onehot = np.zeros(len(self.choices[name]))
        onehot[int(self.data.userdata[list(self.choices).index(name)])] = 1.0
        return onehot

    def height_above_table(self, name: str) -> float:
        return float(self.data.xpos[self.body_ids[name], 2] - self.table_top_z)

    def object_poses(self) -> dict[str, np.ndarray]:
        return {n: pose_matrix(self.data.xpos[i], self.data.xmat[i]) for n, i in self.body_ids.items()}

    # -- what subclasses define -------------------------------------------------------------
    @abc.abstractmethod
    def evaluate(self) -> TaskStatus:
        """Success and every subtask signal, from the current physics state."""

    @abc.abstractmethod
    def dense_reward(self, status: TaskStatus) -> float:
        """Staged progress in [0, 1] for RL, from this step's `evaluate()`."""


def _check_object_mode(task: Task, mode) -> str | dict[str, str]:
    """`object_variants` as the env was asked for it, checked against the task's."""
    if mode in ("reference", "random"):
        if mode == "random" and not task.object_variants:
            raise ValueError(
                f"{task.name} has no object variants: object_variants='random' needs a task that "
                "declares some (use 'reference')"
            )
        return mode
    if not isinstance(mode, dict):
        raise ValueError(
            f"object_variants must be 'reference', 'random' or a dict object -> variant name, got {mode!r}"
        )
    for name, chosen in mode.items():
        options = [o.name for o in task.object_variants.get(name, ())]
        if chosen not in options:
            raise ValueError(
                f"object_variants: {task.name} has no variant {chosen!r} of {name!r}; "
                f"its object variants: { {n: [o.name for o in v] for n, v in task.object_variants.items()} }"
            )
    return dict(mode)
