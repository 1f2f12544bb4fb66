"""CanSort: hand the can over from the right hand to the left, which lays it in the bin of its colour.

Task Description:
    A tall can (6 cm across, 18 cm high) stands upright on the right half of the table; it is
    red or blue, drawn per episode (p = 0.5: the `colour` choice, observed as a one-hot; the
    can is painted in it). A red bin and a blue bin stand side by side on the left half, long
    side (25 cm) along x, the blue one nearer the middle of the table. The right hand grasps the
    can by its top, from above, lifts it and holds it up, upright, over the middle of the table;
    the left hand takes it round its lower half from the side (the hand-over: coordination,
    both arms end it on the same step; replayed as it was, a hand-over has no object to be
    relative to), the right hand lets go and backs away, and the left hand carries the can over
    the bin of its colour and lays it down in it.

    Grasps: the reference's demos take the can from the side at mid-height. On our humanoid a
    side grasp of the standing can is reached only with its frame 11 cm or more above the
    table (lower, the hand meets the table): it would cover the can's middle and leave neither
    end free for the other hand. Taken by its top, the can leaves its lower 12 cm to the left
    hand, whose grip low on the can then suits laying it down (the top, free, topples).

    The goal bin depends on the episode's colour, so the left hand's place subtask cannot name a
    fixed bin as its reference object. `goal_bin` is a marker: a body without collision geometry
    (a mocap body like the bins, holding only an invisible site) that `initialize_episode` puts
    at the pose of the colour's bin. Its pose is part of the physics state (restored by
    `reset_to`) and observed like every object, and generators carry the place segment with it,
    so a source demo that put a red can into the red bin is carried to the blue bin for a blue
    can.

    Why lay the can down: the reference's success check wants the can's centre less than half
    its height above the bin's floor (8.5 cm over the floor's top: the reference measures from
    the 1 cm floor slab's centre); a can standing in the bin (9 cm) does not count. The left
    hand tilts the can it holds (40 deg, top toward the bin's far end), sets its lowest edge 1 cm
    over the floor near the bin's near end and lets go: it topples about that edge and lies in
    the bin (18 cm long, 23 cm inside).

    The can's colour is kept in the state (MuJoCo's userdata, as every choice), its paint in the
    model (`geom_rgba`), which a restored state does not carry: `sync_model_with_state` paints it
    from the state, and the env calls it after every reset and every `reset_to`.

    Sizes (reference): bins 25 x 20 x 5 cm outside, 1 cm walls and floor, the two 20 cm apart
    (touching) at (-0.07, 0.4) (red) and (-0.07, 0.2) (blue); can radius 3 cm, height 18 cm;
    table 0.8 x 1.2 m. The can weighs 0.2 kg (the reference's density of water would make it
    0.5 kg: heavy for a hand-over of a tall body held at one end).

Randomizations:
    Positions (x, y, m) in the table frame (x toward the robot negative); the can is round (no
    yaw), the bins are placed with their long side along x (yaw 0 +- the range shown).
    | layout  | can x; y                    | red bin x; y; yaw                  | blue bin x; y; yaw                 |
    |---------|-----------------------------|------------------------------------|------------------------------------|
    | D0      | (-0.20,-0.10); (-0.20,0.00) | -0.07; 0.40; 0 (reference)         | -0.07; 0.20; 0 (reference)         |
    | D1      | (-0.23,-0.07); (-0.25,0.00) | (-0.10,-0.04); (0.42,0.44); +-0.15 | (-0.10,-0.04); (0.16,0.18); +-0.15 |
    | D2      | as D1                       | as D1's blue bin (the near one)    | as D1's red bin (the far one)      |
    The colour is red or blue with p = 0.5 in every layout. D2 swaps the bins: red is the near
    one. A replayed D0 demo puts the can into the bin where its colour used to be: the wrong one.

Object variants (O axis, off in the published ids; `object_variants="random"` draws one for
the can from the seed):
    | variant   | radius x height (cm) | mass    | friction |
    |-----------|----------------------|---------|----------|
    | reference | 3 x 18               | 0.2 kg  | 1.2      |
    | narrow    | 2.55 x 18            | 0.2 kg  | 1.2      |
    | wide      | 3.3 x 18             | 0.2 kg  | 1.2      |
    | short     | 3 x 15.3             | 0.2 kg  | 1.2      |
    | tall      | 3 x 20.7             | 0.2 kg  | 1.2      |
    | heavy     | 3 x 18               | 0.4 kg  | 1.2      |
    | slippery  | 3 x 18               | 0.2 kg  | 0.6      |
    Wider still (3.45 cm) slipped from the jaws while carried on Panda and stayed propped on the
    opened hand of PandaDex in 2 of 5 episodes each.

Success Conditions:
    The can's centre lies within the footprint of the bin of its colour (|dx| < 12.5 cm and
    |dy| < 10 cm from the bin's centre, in the bin's frame) and less than 8.5 cm above that
    bin's floor (the reference's check; half its own height less 0.5 cm for a resized can), and
    not in the other bin's (no release is required, as in the reference); and the can has been
    in the left hand at some step of the episode (a latch kept in the state). That last
    condition is ours: without it, a humanoid flailing at random knocked the can into its bin
    in 6 of 50 episodes. Subtask signals (all false at reset): right: `grasp_can` (holds the
    can), `can_handed_over` (the left hand holds the can, the right hand does not touch it, and the
    can's bottom is 5 cm or more over the table: taken over in the air); left:
    `can_handed_over`, `can_in_bin` (the success check).
"""

from __future__ import annotations

import mujoco
import numpy as np

from dexbench.envs.objects import ObjectVariant
from dexbench.envs.tasks.base import Coordination, Layout, Placement, Subtask, Task, TaskSpec, TaskStatus, box_between

# Bins (open boxes), origin at the bottom centre, long side along x (reference sizes).
BIN_HALF_X_M, BIN_HALF_Y_M = 0.125, 0.10
BIN_HEIGHT_M = 0.05
BIN_WALL_M = 0.01
FLOOR_TOP_M = BIN_WALL_M  # the floor's top above the table
# Can: a cylinder, origin at its centre.
CAN_RADIUS_M = 0.03
CAN_HALF_HEIGHT_M = 0.09
CAN_MASS_KG = 0.2
# Colours (reference rgba).
RGBA = {"red": (0.58, 0.15, 0.10, 1.0), "blue": (0.53, 0.77, 0.95, 1.0)}
# Success: the can's centre within the bin's footprint and this far above its floor's top at
# most (the reference: half the can's height above the 1 cm floor slab's centre). A resized can
# (O axis) uses its own half height (`CanSort.in_bin_max_z`): the check's point is that a can
# lying in the bin counts and one standing in it does not, and a fixed 8.5 cm would count a
# short can (7.7 cm half height) standing.
IN_BIN_MAX_Z_M = CAN_HALF_HEIGHT_M - BIN_WALL_M / 2
# Hand-over: the can's bottom at least this far over the table (taken over in the air). Fixed
# whatever the can's size: it says the can is off the table, which does not depend on the can.
HANDOVER_MIN_BOTTOM_M = 0.05

RED_BIN, BLUE_BIN = (-0.07, 0.40), (-0.07, 0.20)  # 20 cm apart: the bins touch
BIN_YAW_D1 = 0.15  # rad; with the bins' centres 24 cm or more apart their corners stay apart


def _layout(description: str, can: Placement, red: Placement, blue: Placement) -> Layout:
    return Layout(description, {"can": can}, scenery={"red_bin": red, "blue_bin": blue})


_CAN_D1 = Placement(x=(-0.23, -0.07), y=(-0.25, 0.0))  # twice D0's area
_NEAR_D1 = Placement(x=(-0.10, -0.04), y=(0.16, 0.18), yaw=(-BIN_YAW_D1, BIN_YAW_D1))
_FAR_D1 = Placement(x=(-0.10, -0.04), y=(0.42, 0.44), yaw=(-BIN_YAW_D1, BIN_YAW_D1))
# The object axis (O): the can's variants, the reference first. Sizes stay within what all
# three embodiments' demonstrators hand over and lay down (a tall can, 20.7 cm, still lies in the
# bin's 23 cm; a wider one than 6.6 cm across slipped from the Panda jaws while carried).
CAN_VARIANTS = (
    ObjectVariant("reference"),
    ObjectVariant("narrow", scale_xy=0.85),
    ObjectVariant("wide", scale_xy=1.1),
    ObjectVariant("short", scale_z=0.85),
    ObjectVariant("tall", scale_z=1.15),
    ObjectVariant("heavy", mass=2.0),
    ObjectVariant("slippery", friction=0.6 / 1.2),
)

LAYOUTS = {
    "D0": _layout(
        "reference reset ranges",
        Placement(x=(-0.2, -0.1), y=(-0.2, 0.0)),
        Placement.at(*RED_BIN),
        Placement.at(*BLUE_BIN),
    ),
    "D1": _layout("wider can range; the bins move and turn a little", _CAN_D1, _FAR_D1, _NEAR_D1),
    "D2": _layout("bins swapped (red is the near one)", _CAN_D1, _NEAR_D1, _FAR_D1),
}


class CanSort(Task):
    name = "CanSort"
    horizon = 400
    native_embodiment = "GR1"
    table_size_m = (0.8, 1.2)
    layouts = LAYOUTS
    object_variants = {"can": CAN_VARIANTS}
    choices = {"colour": ("red", "blue")}
    # Success needs the can to have been in the placing (left) hand: arms flailing at random
    # knocked it into its bin in 6 of 50 episodes on the humanoid.
    latches = ("held_by_left",)
    objects = ("can", "red_bin", "blue_bin", "goal_bin")
    colour_coded = ("can", "red_bin", "blue_bin")  # the goal is the bin of the can's colour
    task_spec = TaskSpec(
        subtasks={
            "right": (
                Subtask("grasp_can", "can", "grasp_can"),
                Subtask("handover", "can", "can_handed_over"),
            ),
            "left": (
                Subtask("handover", "can", "can_handed_over"),
                Subtask("place_can", "goal_bin", "can_in_bin", held="can"),
            ),
        },
        coordination=(Coordination({"right": "handover", "left": "handover"}, scheme="replay"),),
    )

    # ------------------------------------------------------------------ scene
    def build(self, mj_spec: mujoco.MjSpec, table_top_z: float) -> None:
        hx, hy, t = BIN_HALF_X_M, BIN_HALF_Y_M, BIN_WALL_M
        for colour in ("red", "blue"):
            rgba = list(RGBA[colour])
            wood = dict(rgba=rgba, friction=[1.0, 0.005, 0.0001])
            body = mj_spec.worldbody.add_body(name=f"{colour}_bin", mocap=True)  # placed by the layout
            box_between(
                body,
                [-hx + t, -hy + t, 0],
                [hx - t, hy - t, FLOOR_TOP_M],
                **{**wood, "rgba": [0.85 * c for c in rgba[:3]] + [1]},
            )
            for s in (-1, 1):  # walls: two along x, two along y between them
                box_between(
                    body, [-hx, min(s * hy, s * (hy - t)), 0], [hx, max(s * hy, s * (hy - t)), BIN_HEIGHT_M], **wood
                )
                box_between(
                    body,
                    [min(s * hx, s * (hx - t)), -hy + t, 0],
                    [max(s * hx, s * (hx - t)), hy - t, BIN_HEIGHT_M],
                    **wood,
                )
        # The goal marker: no geometry that collides or shows, one invisible site.
        goal = mj_spec.worldbody.add_body(name="goal_bin", mocap=True)
        goal.add_site(name="goal_bin", size=[0.005, 0, 0], rgba=[0, 0, 0, 0])

        can = mj_spec.worldbody.add_body(name="can", pos=[0, 0, table_top_z + CAN_HALF_HEIGHT_M])
        can.add_freejoint(name="can")
        # Torsional friction (condim 4): a hand holding the can by one end keeps it from
        # swinging about the closing axis.
        can.add_geom(
            name="can",
            type=mujoco.mjtGeom.mjGEOM_CYLINDER,
            size=[CAN_RADIUS_M, CAN_HALF_HEIGHT_M, 0],
            rgba=list(RGBA["red"]),
            mass=CAN_MASS_KG,
            friction=[1.2, 0.02, 0.0001],
            condim=4,
        )

    def bind(self, model, data, embodiment, table_top_z) -> None:
        super().bind(model, data, embodiment, table_top_z)
        self._can_geom = model.geom("can").id
        self._goal_mocap = int(model.body_mocapid[model.body("goal_bin").id])

    def rest_height(self, name: str) -> float:
        return CAN_HALF_HEIGHT_M if name == "can" else 0.0

    def can_size(self) -> tuple[float, float]:
        """(radius, half height) in m of this episode's can (the reference's unless the O axis
        drew another)."""
        variant = self.object_variant("can") or CAN_VARIANTS[0]
        return CAN_RADIUS_M * variant.scale_xy, CAN_HALF_HEIGHT_M * variant.scale_z

    def in_bin_max_z(self) -> float:
        """IN_BIN_MAX_Z_M for this episode's can: half its height over the floor slab's centre."""
        return self.can_size()[1] - BIN_WALL_M / 2

    def initialize_episode(self, rng: np.random.Generator) -> None:
        """The layout's draw (can, bins, colour); then the goal marker onto the colour's bin
        (a mocap body: its pose is part of the state)."""
        super().initialize_episode(rng)
        goal = self._mocap[f"{self.choice('colour')}_bin"]
        self.data.mocap_pos[self._goal_mocap] = self.data.mocap_pos[goal]
        self.data.mocap_quat[self._goal_mocap] = self.data.mocap_quat[goal]

    def sync_model_with_state(self) -> None:
        """Paint the can in the episode's colour (the choice is in the state, the paint in the
        model)."""
        self.model.geom_rgba[self._can_geom] = RGBA[self.choice("colour")]

    # ------------------------------------------------------------------ success and signals
    def in_bin(self, colour: str) -> bool:
        """The can's centre within the bin's footprint and low in it (the reference's check)."""
        bin_id = self.body_ids[f"{colour}_bin"]
        rel = self.data.xmat[bin_id].reshape(3, 3).T @ (self.data.xpos[self.body_ids["can"]] - self.data.xpos[bin_id])
        return bool(
            abs(rel[0]) < BIN_HALF_X_M and abs(rel[1]) < BIN_HALF_Y_M and rel[2] - FLOOR_TOP_M < self.in_bin_max_z()
        )

    def can_bottom_height(self) -> float:
        """Height (m) of the can's lowest point over the table."""
        can = self.body_ids["can"]
        axis_z = abs(self.data.xmat[can, 8])
        radius, half_height = self.can_size()  # the can's own geometry: its lowest point
        reach = half_height * axis_z + radius * np.sqrt(max(0.0, 1.0 - axis_z**2))
        return self.height_above_table("can") - reach

    def evaluate(self) -> TaskStatus:
        self.update_contacts()
        can = self.body_ids["can"]
        colour = self.choice("colour")
        other = "blue" if colour == "red" else "red"
        left_holds = self.is_grasped("left", can)
        in_bin = self.latch("held_by_left", left_holds) and self.in_bin(colour) and not self.in_bin(other)
        return TaskStatus(
            success=in_bin,
            signals={
                "grasp_can": self.is_grasped("right", can),
                "can_handed_over": bool(
                    left_holds
                    and not self.touched_by_hand("right", can)
                    and self.can_bottom_height() > HANDOVER_MIN_BOTTOM_M
                ),
                "can_in_bin": in_bin,
            },
        )

    def dense_reward(self, status: TaskStatus) -> float:
        if status.success:
            return 1.0
        can = self.body_ids["can"]
        left_holds = self.is_grasped("left", can)
        holds = left_holds or self.is_grasped("right", can)
        reward = 0.15 * holds + 0.15 * float(np.clip(self.can_bottom_height() / 0.1, 0, 1)) * holds
        reward += 0.3 * left_holds
        if left_holds:
            goal = self.data.mocap_pos[self._goal_mocap, :2]
            reward += 0.3 * float(np.exp(-5.0 * np.linalg.norm(self.data.xpos[can, :2] - goal)))
        return float(min(reward, 0.95))
