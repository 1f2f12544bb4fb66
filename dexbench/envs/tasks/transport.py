"""Transport: take the hammer out of the lidded start bin, hand it over, put it in the target
bin; clear the trash cube out of the target bin into the trash bin.

Task Description:
    Three open bins stand on the table: the start bin on the right arm's side, holding a hammer
    under a lid; the target bin (near the robot) and the trash bin (further out) on the left
    arm's side, with a trash cube in the target bin. The right hand lifts the lid off by its
    handle and puts it down on the table in front of the start bin, then grasps the hammer's
    handle and carries it, level and pointing across the table (head to the left), to the
    middle. Meanwhile the left hand takes the trash cube out of the target bin and drops it
    into the trash bin. The left hand then grasps the hammer's head; the right hand lets go only
    once the left holds it (the hand-over: coordination, both arms end it on the same step;
    replayed as it was, a hand-over has no object to be relative to), and the left hand lowers
    the hammer into the target bin.

    Layout: the reference has two tables, one per robot (start bin on table 0; target and trash
    bins on table 1). Our embodiments stand at one table, so it is one wide table (0.8 x 1.0 m)
    with one zone per arm: the start bin centred 28 cm right of the middle, the two other bins
    28 cm left of it, one behind the other (at x = -0.11 and 0.20). Side by side along y the
    two left bins would put the outer one's centre 55 cm from the middle, out of the humanoid's
    fixed-pelvis reach; one behind the other keeps every bin centre within 35 cm of the middle.
    The lid is put down in front of the start bin (the only free table in the right arm's
    reach). The hand-over is 20 cm over the middle of the table.

    Sizes (reference: bins 30 x 30 x 15 cm, wall 1 cm; lid 30 x 30 x 1 cm with a 2 x 8 x 3 cm
    handle; hammer with a 20 cm handle of 3 x 3 cm and a ~3 cm head; trash cube 4 cm): bins
    30 x 30 cm but 7 cm tall (a humanoid's forearm reaching a bin's floor near its body rests
    on a 10 cm wall); the lid 30 x 27 cm, resting on two opposite walls only (8 contacts
    instead of 18 on all four), hammer handle 18 cm, 3 x 3 cm square (flat faces: no hinge in
    a hand), head 3 x 6 x 3 cm; trash cube 4 cm. The lid's handle is a 10 cm flat bar on two
    posts, 4.5 cm over the lid (fingers wrap under it). Hand-over: the right hand holds the
    handle toward its end, the left takes the head (a closed hand is 9 cm wide along a bar and
    an open one 16 cm with its thumb folded out: two hands on the 18 cm handle would collide).

Randomizations:
    Bin positions (x, y, m) in the table frame (x toward the robot negative). The lid, the hammer
    and the trash cube are placed relative to the centre of the bin that holds them (start,
    start, target); the hammer's yaw is that of its handle, head end first (pi/2: head toward
    the left arm), its position that of the middle of its length (1.5 cm in front of the bin's
    centre and 1.5 cm to its left: see HAMMER_X_M, HAMMER_Y_M).
    | layout  | start bin x; y              | target bin x; y             | trash bin x; y              |
    |---------|-----------------------------|-----------------------------|-----------------------------|
    | D0      | 0.14 +-0.005; -0.28 +-0.005 | -0.11 +-0.005; 0.28 +-0.005 | 0.20 +-0.005; 0.28 +-0.005  |
    | D1      | 0.14 +-0.02; -0.28 +-0.03   | -0.11 +-0.02; 0.28 +-0.03   | 0.20 +-0.02; 0.28 +-0.03    |
    | D2      | as D1                       | 0.20 +-0.02; 0.28 +-0.03    | -0.11 +-0.02; 0.28 +-0.03   |

    | layout  | hammer yaw; x; y                            | cube x, y; yaw    |
    |---------|---------------------------------------------|-------------------|
    | D0      | pi/2 +- pi/6; -0.015 +-0.005; 0.015 +-0.005 | +-0.005; +-0.3 pi |
    | D1      | pi/2 +- pi/4; -0.015 +-0.01; 0.015 +-0.01   | +-0.03; any       |
    | D2      | as D1                                       | as D1             |
    D2 swaps the target and trash bins: the cube is picked from the far bin and dropped into
    the near one, the hammer goes far. A replayed D0 demo reaches into an empty bin for the
    cube and puts the hammer into the trash bin.

Success Conditions:
    The hammer touches the target bin's floor AND the trash cube touches the trash bin's floor
    (contacts with the floors, not the walls; as in the reference, no release is required).
    Subtask signals (all false at reset): right: `grasp_lid` (holds the lid's handle),
    `lid_off` (the lid's centre is 20 cm or more from the start bin's, touching neither the
    bin nor the right hand), `grasp_hammer` (holds the hammer), `hammer_handed_over` (the left
    hand holds the hammer 8 cm or more over the table and the right hand does not touch it);
    left: `grasp_trash` (holds the cube), `trash_in_bin` (the cube on the trash bin's floor, let
    go of), `hammer_handed_over`, `hammer_in_bin` (on the target bin's floor: the success part).
"""

from __future__ import annotations

import mujoco
import numpy as np

from dexbench.envs.tasks.base import Coordination, Layout, Placement, Subtask, Task, TaskSpec, TaskStatus, box_between

# Bins (open boxes), origin at the bottom centre.
BIN_HALF_M = 0.15  # 30 cm square outside (reference)
BIN_HEIGHT_M = 0.07
BIN_WALL_M = 0.01
FLOOR_TOP_M = BIN_WALL_M  # the floor's top above the table
# Lid: a plate on the start bin's walls, origin at its bottom centre; a flat bar on two posts.
LID_THICKNESS_M = 0.01
# Along x the lid is shorter than the bin's inside (28 cm): it rests on the two walls along x
# only, clear of the other two (fewer contacts at rest; it still cannot fall in).
LID_HALF_X_M = 0.135
LID_DENSITY = 250.0  # kg/m^3 (reference): ~0.21 kg
LID_BAR_Z_M = 0.045  # bar axis above the lid's bottom: 2.8 cm for the fingers under it
LID_BAR_HALF_LENGTH_M = 0.05
LID_BAR_HALF_WIDTH_M = 0.014  # across the bar (lid x): what a grasp closes on
LID_BAR_HALF_THICKNESS_M = 0.008
# Hammer, origin at the handle's centre, handle along its x, head at +x.
HANDLE_HALF_LENGTH_M = 0.09
HANDLE_HALF_M = 0.015  # square cross-section, 3 cm
HEAD_HALF_M = (0.015, 0.03, 0.015)  # along the handle, across it, up
HAMMER_DENSITY = 500.0  # kg/m^3: ~0.11 kg
HAMMER_CENTRE_X_M = (HANDLE_HALF_LENGTH_M + 2 * HEAD_HALF_M[0] - HANDLE_HALF_LENGTH_M) / 2  # middle of its length
HEAD_X_M = HANDLE_HALF_LENGTH_M + HEAD_HALF_M[0]  # the head's centre on the hammer's x
# The hammer's middle lies this far in front of (toward the robot from) the start bin's centre:
# a hand grasping the handle near its end, fingers pointing away from the robot, keeps them
# inside the far wall at every yaw of D1 (centred, they would land on its top), and its wrist,
# 8 cm behind the grasp point, inside the near wall (3 cm in front, at a yaw of pi/4 the handle's
# end points at the robot and the wrist landed on that wall's top).
HAMMER_X_M = -0.015
# ... and this far to the left of it: the right hand holds the handle toward its end, 5-6.5 cm
# right of the hammer's middle at every yaw; centred, at a yaw of pi/4 its little finger came
# down on the right wall's top.
HAMMER_Y_M = 0.015
TRASH_HALF_M = 0.02  # 4 cm cube (reference)
# Signals.
LID_ASIDE_M = 0.20  # the lid's centre this far (xy) from the start bin's: off and aside
HANDOVER_MIN_HEIGHT_M = 0.08  # the hammer is handed over in the air, not picked off the table

# The objects held by a bin at reset, placed relative to its centre.
CONTAINER = {"lid": "start_bin", "hammer": "start_bin", "trash": "target_bin"}


def _layout(description: str, start, target, trash, hammer: Placement, cube: Placement) -> Layout:
    return Layout(
        description,
        {
            "lid": Placement.at(0.0, 0.0),
            "hammer": hammer,
            "trash": cube,
        },
        scenery={"start_bin": start, "target_bin": target, "trash_bin": trash},
    )


NEAR_BIN, FAR_BIN = (-0.11, 0.28), (0.20, 0.28)  # 31 cm apart: 1 cm between the bins
LAYOUTS = {
    "D0": _layout(
        "reference reset ranges",
        Placement(x=(0.135, 0.145), y=(-0.285, -0.275)),
        Placement(x=(NEAR_BIN[0] - 0.005, NEAR_BIN[0] + 0.005), y=(NEAR_BIN[1] - 0.005, NEAR_BIN[1] + 0.005)),
        Placement(x=(FAR_BIN[0] - 0.005, FAR_BIN[0] + 0.005), y=(FAR_BIN[1] - 0.005, FAR_BIN[1] + 0.005)),
        Placement(
            x=(HAMMER_X_M - 0.005, HAMMER_X_M + 0.005),
            y=(HAMMER_Y_M - 0.005, HAMMER_Y_M + 0.005),
            yaw=(np.pi / 3, 2 * np.pi / 3),
        ),
        Placement(x=(-0.005, 0.005), y=(-0.005, 0.005), yaw=(-0.3 * np.pi, 0.3 * np.pi)),
    ),
    "D1": _layout(
        "bins and hammer placed over wider ranges",
        Placement(x=(0.12, 0.16), y=(-0.31, -0.25)),
        Placement(x=(NEAR_BIN[0] - 0.02, NEAR_BIN[0] + 0.02), y=(NEAR_BIN[1] - 0.03, NEAR_BIN[1] + 0.03)),
        Placement(x=(FAR_BIN[0] - 0.02, FAR_BIN[0] + 0.02), y=(FAR_BIN[1] - 0.03, FAR_BIN[1] + 0.03)),
        Placement(
            x=(HAMMER_X_M - 0.01, HAMMER_X_M + 0.01),
            y=(HAMMER_Y_M - 0.01, HAMMER_Y_M + 0.01),
            yaw=(np.pi / 4, 3 * np.pi / 4),
        ),
        Placement(x=(-0.03, 0.03), y=(-0.03, 0.03), yaw=(-np.pi, np.pi)),
    ),
    "D2": _layout(
        "target and trash bins swapped",
        Placement(x=(0.12, 0.16), y=(-0.31, -0.25)),
        Placement(x=(FAR_BIN[0] - 0.02, FAR_BIN[0] + 0.02), y=(FAR_BIN[1] - 0.03, FAR_BIN[1] + 0.03)),
        Placement(x=(NEAR_BIN[0] - 0.02, NEAR_BIN[0] + 0.02), y=(NEAR_BIN[1] - 0.03, NEAR_BIN[1] + 0.03)),
        Placement(
            x=(HAMMER_X_M - 0.01, HAMMER_X_M + 0.01),
            y=(HAMMER_Y_M - 0.01, HAMMER_Y_M + 0.01),
            yaw=(np.pi / 4, 3 * np.pi / 4),
        ),
        Placement(x=(-0.03, 0.03), y=(-0.03, 0.03), yaw=(-np.pi, np.pi)),
    ),
}


class Transport(Task):
    name = "Transport"
    horizon = 1200
    native_embodiment = "Panda"
    table_size_m = (0.8, 1.0)
    layouts = LAYOUTS
    objects = ("lid", "hammer", "trash", "start_bin", "target_bin", "trash_bin")
    task_spec = TaskSpec(
        subtasks={
            "right": (
                Subtask("grasp_lid", "lid", "grasp_lid"),
                Subtask("lid_off", "start_bin", "lid_off"),
                Subtask("grasp_hammer", "hammer", "grasp_hammer"),
                Subtask("handover", "hammer", "hammer_handed_over"),
            ),
            "left": (
                Subtask("grasp_trash", "trash", "grasp_trash"),
                Subtask("trash_in_bin", "trash_bin", "trash_in_bin", held="trash"),
                Subtask("handover", "hammer", "hammer_handed_over"),
                Subtask("place_hammer", "target_bin", "hammer_in_bin", held="hammer"),
            ),
        },
        coordination=(Coordination({"right": "handover", "left": "handover"}, scheme="replay"),),
    )

    # ------------------------------------------------------------------ scene
    def build(self, mj_spec: mujoco.MjSpec, table_top_z: float) -> None:
        box = mujoco.mjtGeom.mjGEOM_BOX
        h, t = BIN_HALF_M, BIN_WALL_M
        for name, rgba in (
            ("start_bin", [0.45, 0.32, 0.2, 1]),
            ("target_bin", [0.3, 0.45, 0.3, 1]),
            ("trash_bin", [0.35, 0.35, 0.38, 1]),
        ):
            wood = dict(rgba=rgba, friction=[1.0, 0.005, 0.0001])
            body = mj_spec.worldbody.add_body(name=name, mocap=True)  # placed by the layout's scenery
            for s in (-1, 1):  # walls: two along x, two along y between them
                box_between(body, [-h, min(s * h, s * (h - t)), 0], [h, max(s * h, s * (h - t)), BIN_HEIGHT_M], **wood)
                box_between(
                    body, [min(s * h, s * (h - t)), -h + t, 0], [max(s * h, s * (h - t)), h - t, BIN_HEIGHT_M], **wood
                )
            # The floor is a body of its own (rigidly part of the bin), so "on the floor" can be
            # told from leaning on a wall.
            floor = body.add_body(name=f"{name}_floor")
            box_between(
                floor,
                [-h + t, -h + t, 0],
                [h - t, h - t, FLOOR_TOP_M],
                **{**wood, "rgba": [0.8 * c for c in rgba[:3]] + [1]},
            )

        lid = mj_spec.worldbody.add_body(name="lid", pos=[0, 0, table_top_z])
        lid.add_freejoint(name="lid")
        plank = dict(rgba=[0.55, 0.4, 0.25, 1], friction=[1.0, 0.005, 0.0001], density=LID_DENSITY)
        box_between(lid, [-LID_HALF_X_M, -h, 0], [LID_HALF_X_M, h, LID_THICKNESS_M], **plank)
        handle = lid.add_body(name="lid_handle", pos=[0, 0, LID_BAR_Z_M])
        dark = dict(rgba=[0.25, 0.2, 0.15, 1], friction=[1.0, 0.005, 0.0001], density=LID_DENSITY)
        post_h = LID_BAR_Z_M - LID_BAR_HALF_THICKNESS_M - LID_THICKNESS_M
        for s in (-1, 1):  # posts at the bar's ends, clear of a hand closing on its middle
            handle.add_geom(
                type=box,
                size=[0.008, 0.006, post_h / 2],
                pos=[0, s * (LID_BAR_HALF_LENGTH_M - 0.006), -LID_BAR_HALF_THICKNESS_M - post_h / 2],
                **dark,
            )
        handle.add_geom(
            type=box, condim=4, size=[LID_BAR_HALF_WIDTH_M, LID_BAR_HALF_LENGTH_M, LID_BAR_HALF_THICKNESS_M], **dark
        )

        hammer = mj_spec.worldbody.add_body(name="hammer", pos=[0, 0, table_top_z])
        hammer.add_freejoint(name="hammer")
        # Torsional friction (condim 4, 2 cm): a hand holding the handle 6 cm from the hammer's
        # centre of mass keeps it level rather than letting it swing about the closing axis.
        grip = dict(friction=[1.5, 0.02, 0.0001], condim=4, density=HAMMER_DENSITY)
        hammer.add_geom(
            type=box, size=[HANDLE_HALF_LENGTH_M, HANDLE_HALF_M, HANDLE_HALF_M], rgba=[0.7, 0.5, 0.3, 1], **grip
        )
        hammer.add_geom(
            type=box,
            size=HEAD_HALF_M,
            pos=[HANDLE_HALF_LENGTH_M + HEAD_HALF_M[0], 0, 0],
            rgba=[0.5, 0.55, 0.6, 1],
            **grip,
        )

        trash = mj_spec.worldbody.add_body(name="trash", pos=[0, 0, table_top_z])
        trash.add_freejoint(name="trash")
        trash.add_geom(
            type=box, size=[TRASH_HALF_M] * 3, rgba=[0.75, 0.2, 0.15, 1], mass=0.05, friction=[1.2, 0.005, 0.0001]
        )

    def bind(self, model, data, embodiment, table_top_z) -> None:
        super().bind(model, data, embodiment, table_top_z)
        self._lid_handle = model.body("lid_handle").id
        self._floor = {b: model.body(f"{b}_floor").id for b in ("start_bin", "target_bin", "trash_bin")}

    def rest_height(self, name: str) -> float:
        """Heights in the bin that holds the object (the lid on the start bin's walls)."""
        return {"lid": BIN_HEIGHT_M, "hammer": FLOOR_TOP_M + HANDLE_HALF_M, "trash": FLOOR_TOP_M + TRASH_HALF_M}.get(
            name, 0.0
        )

    def initialize_episode(self, rng: np.random.Generator) -> None:
        """The layout's draw, then each contained object moved from the table centre to its
        bin (its placement is relative to the bin's centre; the hammer's is that of the middle
        of its length)."""
        super().initialize_episode(rng)
        for name, container in CONTAINER.items():
            adr = self._free_qpos[name]
            self.data.qpos[adr : adr + 2] += self.data.mocap_pos[self._mocap[container], :2]
            if name == "hammer":
                w, z = self.data.qpos[adr + 3], self.data.qpos[adr + 6]
                yaw = 2 * np.arctan2(z, w)
                self.data.qpos[adr : adr + 2] -= HAMMER_CENTRE_X_M * np.array([np.cos(yaw), np.sin(yaw)])

    # ------------------------------------------------------------------ success and signals
    def evaluate(self) -> TaskStatus:
        self.update_contacts()
        ids = self.body_ids
        lid, hammer, trash = ids["lid"], ids["hammer"], ids["trash"]
        lid_parts = (lid, self._lid_handle)
        lid_to_bin = self.data.xpos[lid, :2] - self.data.xpos[ids["start_bin"], :2]
        right_on_lid = any(self.touched_by_hand("right", b) for b in lid_parts)
        trash_on_floor = self.touching(trash, self._floor["trash_bin"])
        hammer_on_floor = self.touching(hammer, self._floor["target_bin"])
        return TaskStatus(
            success=bool(hammer_on_floor and trash_on_floor),
            signals={
                "grasp_lid": self.is_grasped("right", self._lid_handle),
                "lid_off": bool(
                    np.linalg.norm(lid_to_bin) > LID_ASIDE_M
                    and not right_on_lid
                    and not self.touching(lid, ids["start_bin"])
                ),
                "grasp_hammer": self.is_grasped("right", hammer),
                "hammer_handed_over": bool(
                    self.is_grasped("left", hammer)
                    and not self.touched_by_hand("right", hammer)
                    and self.height_above_table("hammer") > HANDOVER_MIN_HEIGHT_M
                ),
                "grasp_trash": self.is_grasped("left", trash),
                "trash_in_bin": bool(trash_on_floor and not self.touched_by_hand("left", trash)),
                "hammer_in_bin": hammer_on_floor,
            },
        )

    def dense_reward(self, status: TaskStatus) -> float:
        signals = status.signals
        if status.success:
            return 1.0
        lid_off = signals["lid_off"]
        trash_done = self.touching(self.body_ids["trash"], self._floor["trash_bin"])
        holds = self.is_grasped("left", self.body_ids["hammer"]) or self.is_grasped("right", self.body_ids["hammer"])
        reward = 0.05 * signals["grasp_lid"] + 0.15 * (lid_off or holds)
        reward += 0.1 * (signals["grasp_trash"] or trash_done) + 0.2 * trash_done
        reward += 0.15 * holds + 0.2 * self.is_grasped("left", self.body_ids["hammer"])
        return float(min(reward, 0.95))
