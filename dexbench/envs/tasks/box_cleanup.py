"""BoxCleanup: lift the lid off the table with both hands and put it on the box.

Task Description:
    An open box (20 x 20 cm, 15 cm tall) stands on the right half of the table; its lid lies
    on the left half. The lid is a 21 x 21 cm plate on a 15 x 15 cm plug (the plug goes into the
    box's 18 x 18 cm opening, the plate rests on the box's rim), with a handle bar over each of
    two opposite edges. Each hand grasps the bar on its own side (the right hand the bar nearer
    the box, the left hand the far one: neither arm crosses the other, and the right arm, on
    the box's side, does not reach across the lid), then both lift the lid together, carry it
    over the box, turn it to the box's heading (a quarter turn is the same lid) and lower it
    onto the box (coordination: the place ends on the same step for both arms), let go and
    move away.

    Sizes: the reference's box is 20 x 20 x 15 cm with 1 cm walls (kept), its lid a 25 x 25 x
    6 cm plate on a 15 x 15 x 4 cm plug (kept), grasped by the plate's edges. Neither the Panda
    jaws (8 cm stroke) nor a hand can pinch a 25 cm plate across, so the plate is 21 cm square
    and 2 cm thick (it still overhangs the box by 5 mm on every side) and the grip is on two
    handle bars, made as TrayLift's tray handles: flat bars (2.8 cm wide, 1.6 cm thick) along
    the lid's y, sticking 10.5 cm out of its two y edges, each on a post standing on the
    plate's edge, 9.5 cm above the lid's bottom, so five fingers wrap under them and the jaws
    pinch them. Raised 3.5 cm over the plate, the bars are 6 cm above the lid's centre of mass:
    level with the plate (2.5 cm above it) the lid swung 50-80 deg about the bars' common axis,
    both hands' fingers rolling their bars the same way. A hand holds its bar 5.5 cm beyond
    the plate's edge (a closed hand is 9 cm wide along the bar: clear of the plate, and over
    the box clear of its wall). The plug's 1.5 cm of play on each side of the opening centres
    a lid set down within 1.5 cm; a lid turned up to ~10 deg from the box's heading still goes
    in. The box is scenery (the reference's box weighs ~100 kg: it never moves); the lid is
    free, ~0.4 kg.

Randomizations:
    Positions (x, y, m) relative to the table centre (x toward the robot negative), yaw (rad).
    | layout  | box x; y; yaw                         | lid x; y; yaw                          |
    |---------|---------------------------------------|----------------------------------------|
    | D0      | (-0.05,0.05); -0.15; 0 (reference)    | (-0.05,0.05); 0.20; 0 (reference)      |
    | D1      | (-0.08,0.08); (-0.17,-0.14); +-pi/12  | (-0.10,0.10); (0.20,0.24); +-pi/8      |
    | D2      | (-0.08,0.08); (0.14,0.17); +-pi/12    | (-0.10,0.10); (-0.24,-0.20); +-pi/8    |
    D1 keeps the lid and the box at least 34 cm apart (D0: 35 cm): the hand between them opens
    its thumb toward the box, and 29 cm apart it came down on the box's wall. D2 swaps the
    sides: the box stands on the left, the lid lies on the right, so the lid is carried from
    right to left and the left hand holds the bar nearer the box. A replayed D0 demo reaches
    for the lid where the box stands.

Success Conditions:
    The lid rests on the box: it touches the box, its plate's bottom is within 1 cm of the
    box's rim (height), its centre is within 3 cm (xy) of the box's centre (reference), it is
    level (tilt under 10 deg), and neither hand touches it (let go of; the reference does not
    ask for the release).
    Subtask signals (all false at reset): `grasp_lid_right`, `grasp_lid_left` (that hand holds
    a handle bar), `lid_on_box` (the success check without the release: the lid set down on the
    box, still in the hands). `lid_over_box` (the lid's centre within 3 cm (xy) of the box's,
    its plug's bottom 2 cm or more above the rim) marks where the place begins: before it the lid is
    carried across the table, a transit that generators may plan anew.
"""

from __future__ import annotations

import mujoco
import numpy as np

from dexbench.envs.embodiments.base import ARMS
from dexbench.envs.tasks.base import Coordination, Layout, Placement, Subtask, Task, TaskSpec, TaskStatus, box_between

# Box: an open box, origin at its bottom centre (reference sizes).
BOX_HALF_M = 0.10  # 20 cm square outside
BOX_HEIGHT_M = 0.15
BOX_WALL_M = 0.01
# Lid, origin at the plug's bottom centre (on the table at rest).
PLUG_HALF_M = 0.075  # 15 cm square (reference): 1.5 cm of play on each side in the 18 cm opening
PLUG_HEIGHT_M = 0.04  # lifts the plate (and the bars) off the table for the fingers
PLATE_HALF_M = 0.105  # 21 cm square: overhangs the 20 cm box by 5 mm
PLATE_THICKNESS_M = 0.02
LID_DENSITY = 200.0  # kg/m^3, light wood: the lid weighs ~0.4 kg
PLATE_TOP_M = PLUG_HEIGHT_M + PLATE_THICKNESS_M  # 6 cm above the lid's bottom
# Handle bars: along the lid's y, sticking out of its two y edges, each on a post standing on
# the plate's edge.
HANDLE_Y_M = 0.16  # where a hand holds a bar, from the lid's centre (5.5 cm beyond the plate)
HANDLE_END_Y_M = 0.21  # the bars' outer ends
# The bars' axis above the lid's bottom: raised 3.5 cm over the plate on posts, about 6 cm above
# the lid's centre of mass. Level with the plate, the lid's weight (2.5 cm under the bars' common
# axis) did not hold it level against five fingers curling round the bars: both hands roll
# their bars the same way and the lid swung 50-80 deg about that axis.
HANDLE_Z_M = PLATE_TOP_M + 0.035
POST_HALF_M = 0.006  # the posts: 1.2 cm thick along the bar, as wide as the bar
HANDLE_HALF_WIDTH_M = 0.014  # across the bar: what a grasp closes on
HANDLE_HALF_THICKNESS_M = 0.008
# Success.
CENTRE_TOL_M = 0.03  # lid centre within this (xy) of the box centre (reference)
HEIGHT_TOL_M = 0.01  # the plate's bottom within this of the box's rim
LEVEL_COS = float(np.cos(np.radians(10)))  # lid tilt under 10 deg
# Over the box: where the place's own motion (lowering the plug into the opening) begins; before
# it the lid is only carried across the table (a transit, see Subtask.start_signal).
OVER_BOX_TOL_M = 0.03
OVER_BOX_CLEARANCE_M = 0.02  # the plug's bottom this far above the rim

LAYOUTS = {
    "D0": Layout(
        "reference reset ranges",
        {
            "lid": Placement(x=(-0.05, 0.05), y=(0.20, 0.20)),
        },
        scenery={"box": Placement(x=(-0.05, 0.05), y=(-0.15, -0.15))},
    ),
    "D1": Layout(
        "wider positions; box and lid turned",
        {
            "lid": Placement(x=(-0.10, 0.10), y=(0.20, 0.24), yaw=(-np.pi / 8, np.pi / 8)),
        },
        scenery={"box": Placement(x=(-0.08, 0.08), y=(-0.17, -0.14), yaw=(-np.pi / 12, np.pi / 12))},
    ),
    "D2": Layout(
        "box and lid on swapped sides",
        {
            "lid": Placement(x=(-0.10, 0.10), y=(-0.24, -0.20), yaw=(-np.pi / 8, np.pi / 8)),
        },
        scenery={"box": Placement(x=(-0.08, 0.08), y=(0.14, 0.17), yaw=(-np.pi / 12, np.pi / 12))},
    ),
}


class BoxCleanup(Task):
    name = "BoxCleanup"
    horizon = 400
    native_embodiment = "PandaDex"
    layouts = LAYOUTS
    objects = ("lid", "box")
    task_spec = TaskSpec(
        subtasks={
            arm: (
                Subtask("grasp_lid", "lid", f"grasp_lid_{arm}"),
                Subtask("place_lid", "box", "lid_on_box", held="lid", start_signal="lid_over_box"),
            )
            for arm in ARMS
        },
        coordination=(Coordination({"right": "place_lid", "left": "place_lid"}, scheme="transform"),),
    )

    # ------------------------------------------------------------------ scene
    def build(self, mj_spec: mujoco.MjSpec, table_top_z: float) -> None:
        box_geom = mujoco.mjtGeom.mjGEOM_BOX
        h, t = BOX_HALF_M, BOX_WALL_M
        wood = dict(rgba=[0.45, 0.3, 0.15, 1], friction=[1.0, 0.005, 0.0001])
        box = mj_spec.worldbody.add_body(name="box", mocap=True)  # placed by the layout's scenery
        for s in (-1, 1):  # walls: two full ones along x, two between them along y
            box_between(box, [-h, min(s * h, s * (h - t)), 0], [h, max(s * h, s * (h - t)), BOX_HEIGHT_M], **wood)
            box_between(
                box, [min(s * h, s * (h - t)), -h + t, 0], [max(s * h, s * (h - t)), h - t, BOX_HEIGHT_M], **wood
            )
        box_between(box, [-h + t, -h + t, 0], [h - t, h - t, t], **{**wood, "rgba": [0.38, 0.25, 0.12, 1]})

        lid = mj_spec.worldbody.add_body(name="lid", pos=[0, 0, table_top_z])
        lid.add_freejoint(name="lid")
        plank = dict(rgba=[0.62, 0.45, 0.25, 1], friction=[1.0, 0.005, 0.0001], density=LID_DENSITY)
        box_between(lid, [-PLUG_HALF_M, -PLUG_HALF_M, 0], [PLUG_HALF_M, PLUG_HALF_M, PLUG_HEIGHT_M], **plank)
        box_between(
            lid, [-PLATE_HALF_M, -PLATE_HALF_M, PLUG_HEIGHT_M], [PLATE_HALF_M, PLATE_HALF_M, PLATE_TOP_M], **plank
        )
        # Each bar is a body of its own, rigidly part of the lid, so a grasp of a bar can be
        # told from a hand brushing the plate.
        dark = {**plank, "rgba": [0.3, 0.2, 0.12, 1]}
        bar_start = PLATE_HALF_M - 2 * POST_HALF_M  # over the post, standing on the plate's edge
        bar_half_len = (HANDLE_END_Y_M - bar_start) / 2
        for s, name in ((-1, "lid_handle_a"), (1, "lid_handle_b")):
            bar = lid.add_body(name=name, pos=[0, s * HANDLE_Y_M, HANDLE_Z_M])
            bar.add_geom(
                type=box_geom,
                condim=4,
                size=[HANDLE_HALF_WIDTH_M, bar_half_len, HANDLE_HALF_THICKNESS_M],
                pos=[0, s * ((bar_start + HANDLE_END_Y_M) / 2 - HANDLE_Y_M), 0],
                **dark,
            )
            post_half_h = (HANDLE_Z_M - HANDLE_HALF_THICKNESS_M - PLATE_TOP_M) / 2
            bar.add_geom(
                type=box_geom,
                size=[HANDLE_HALF_WIDTH_M, POST_HALF_M, post_half_h],
                pos=[0, s * (PLATE_HALF_M - POST_HALF_M - HANDLE_Y_M), -HANDLE_HALF_THICKNESS_M - post_half_h],
                **dark,
            )

    def bind(self, model, data, embodiment, table_top_z) -> None:
        super().bind(model, data, embodiment, table_top_z)
        self._handle_ids = np.array([model.body("lid_handle_a").id, model.body("lid_handle_b").id])
        self._lid_parts = np.array([self.body_ids["lid"], *self._handle_ids])

    # ------------------------------------------------------------------ success and signals
    def lid_offset(self) -> tuple[float, float]:
        """(xy distance of the lid's centre from the box's, height of the plate's bottom above
        the box's rim), metres."""
        lid, box = self.data.xpos[self.body_ids["lid"]], self.data.xpos[self.body_ids["box"]]
        return float(np.linalg.norm(lid[:2] - box[:2])), float(lid[2] + PLUG_HEIGHT_M - box[2] - BOX_HEIGHT_M)

    def evaluate(self) -> TaskStatus:
        self.update_contacts()
        lid, box = self.body_ids["lid"], self.body_ids["box"]
        out = {f"grasp_lid_{arm}": any(self.is_grasped(arm, h) for h in self._handle_ids) for arm in ARMS}
        dist, height = self.lid_offset()
        level = self.data.xmat[lid, 8] > LEVEL_COS
        on_box = bool(self.touching(lid, box) and dist < CENTRE_TOL_M and abs(height) < HEIGHT_TOL_M and level)
        released = not any(self.touched_by_hand(arm, p) for arm in ARMS for p in self._lid_parts)
        out["lid_over_box"] = bool(dist < OVER_BOX_TOL_M and height > PLUG_HEIGHT_M + OVER_BOX_CLEARANCE_M)
        out["lid_on_box"] = on_box
        return TaskStatus(success=bool(on_box and released), signals=out)

    def dense_reward(self, status: TaskStatus) -> float:
        signals = status.signals
        if status.success:
            return 1.0
        held = signals["grasp_lid_right"] + signals["grasp_lid_left"]
        reward = 0.1 * held
        if held == 2:
            dist, _ = self.lid_offset()
            lift = np.clip((self.height_above_table("lid") - 0.005) / BOX_HEIGHT_M, 0.0, 1.0)
            reward += 0.2 * lift + 0.3 * np.exp(-dist / 0.05) * lift
        return float(min(reward + 0.2 * signals["lid_on_box"], 0.95))
