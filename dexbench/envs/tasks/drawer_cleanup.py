"""DrawerCleanup: open the drawer, put the mug into it, close the drawer.

Task Description:
    A low cabinet with one drawer stands on the right half of the table, its front facing the
    robot; a mug (a cup without a handle) stands on the left half. The right hand grasps the
    drawer's handle, pulls the drawer open, lets go and moves out of the way. Only then
    (sequential constraint) does the left hand, which picked up the mug, lower it into the open
    drawer and let go. Only then (sequential constraint) does the right hand grasp the handle
    again and push the drawer shut.

    Cabinet frame: origin on the table under the carcass's centre; the drawer slides out of the
    carcass's front along the frame's -x (the slide joint `drawer_slide` measures the opening, 0
    closed to 13.5 cm fully open). At yaw 0 the front faces the robot (-x in the world), in
    front of the right arm, so the right hand pulls the drawer toward itself and both hands
    reach into it. (The reference's yaw -pi/2 is in the frame of its own cabinet model; what
    matters is the front facing the robot in front of the right arm, which this frame has at
    yaw 0.) The carcass, 24 x 22 x 13 cm, has a top: the mug only goes in through the open part
    of the drawer (13.5 x 21.6 cm, floor 2 cm above the table), and closing the drawer slides it
    under the top (1.5 cm above the mug's rim). The drawer never touches the carcass (it is
    held by its slide, whose damping and friction keep a let-go drawer where it is).
    The handle is a flat bar (along the frame's y) on two posts rising 4.5 cm above the drawer
    front's top edge: a five-finger hand closing across it curls its fingers behind the bar into
    free space (a pull on the front face would need ~8 cm between bar and face for them), the
    jaws pinch it; both then pull against the bar, not by friction alone.
    The mug is a 6.2 cm wide, 8.5 cm tall cup with no handle: the Panda jaws (8 cm stroke)
    straddle it top-down with a centimetre to spare on each side, and a handle would only be in
    the way of a top-down grasp.
    The table is 0.8 m deep (the Panda bases stand 10 cm off its near edge, the humanoid right
    behind it: the reference's 1.5 m depth would put them inside it) and 1.5 m wide as in the
    reference, so the mug's whole range lies on it.

Randomizations:
    | layout | mug x, y (m), yaw               | cabinet x, y (m), yaw (rad)                | drawer opening (m) |
    |--------|---------------------------------|--------------------------------------------|--------------------|
    | D0     | (-0.30,-0.15), (0.20,0.40), any | (0.10, -0.15), 0 (fixed)                   | 0 (closed)         |
    | D1     | (-0.32,-0.12), (0.15,0.42), any | (0.06,0.14), (-0.19,-0.11), +-pi/12        | (0, 0.02)          |
    | D2     | (-0.32,-0.12), (0.15,0.42), any | (0.12,0.16), (-0.20,-0.16), (-pi/8,-pi/12) | (0.04, 0.07)       |
    D0's ranges are the reference's.
    D2 moves the cabinet further right and away and turns its front 15-22 deg toward the robot's
    centre, and leaves the drawer half open: a replayed source pull is 4-7 cm too long and off
    the slide, and the mug goes to a spot ~6 cm from where it went in D0.

Success Conditions:
    The mug rests on the drawer's bottom (touches the drawer, its base within 5 mm of the
    drawer's floor) and the drawer is within 1 cm of closed. A drawer closed on an empty
    floor (the mug anywhere else) is no success.
    Subtask signals (all false at reset): `drawer_open` (open more than 10 cm, let go of, and
    the right hand 12 cm from the handle: out of the left hand's way), `grasp_mug` (the left
    hand holds the mug), `mug_in_drawer` (resting on the drawer's bottom, let go of),
    `drawer_closed` (= success); `grasp_handle` (the right hand holds the handle) is not a
    subtask end.
"""

from __future__ import annotations

import mujoco
import numpy as np

from dexbench.envs.tasks.base import (
    Layout,
    Placement,
    Sequential,
    Subtask,
    Task,
    TaskSpec,
    TaskStatus,
    box_between,
    ring_wall,
)

# Cabinet (carcass) in its own frame, metres.
CAB_DEPTH_M = 0.22  # along the slide (x); the front is at x = -CAB_DEPTH_M / 2
CAB_WIDTH_M = 0.24  # along y
CAB_HEIGHT_M = 0.13  # top of the carcass above the table
PANEL_M = 0.01  # carcass panel thickness
# Drawer (a tray behind a front plate), moving on the slide; it never touches the carcass.
GAP_M = 0.002  # clearance between drawer and carcass
FRONT_THICKNESS_M = 0.012
FLOOR_THICKNESS_M = 0.008
WALL_M = 0.008
WALL_TOP_M = 0.09  # drawer walls' top above the table
FLOOR_TOP_M = PANEL_M + GAP_M + FLOOR_THICKNESS_M  # 2 cm: the drawer's floor above the table
DRAWER_LENGTH_M = CAB_DEPTH_M - PANEL_M - GAP_M  # from the front plate to the back wall
DRAWER_HALF_WIDTH_M = CAB_WIDTH_M / 2 - PANEL_M - GAP_M
OPEN_MAX_M = 0.135  # slide range: fully open
SLIDE_DAMPING = 10.0  # N s/m: a let-go drawer stops within millimetres
SLIDE_FRICTIONLOSS_N = 4.0  # ... and does not creep
DRAWER_DENSITY = 500.0  # kg/m^3, wood
# Handle: a flat bar along y on two posts rising from the front plate's top edge.
HANDLE_RISE_M = 0.045  # bar axis above the carcass top
HANDLE_POST_Y_M = 0.075  # posts at +-this from the drawer's centre line (hand fits between)
HANDLE_HALF_WIDTH_M = 0.014  # the bar's cross-section: 2.8 cm across (x),
HANDLE_HALF_THICKNESS_M = 0.008  # 1.6 cm thick (z)
FRONT_FACE_X_M = -CAB_DEPTH_M / 2 - 0.001 - FRONT_THICKNESS_M  # the front plate's outer face (closed)
HANDLE_X_M = FRONT_FACE_X_M - 0.008  # the bar's axis, in the cabinet frame with the drawer closed
HANDLE_Z_M = CAB_HEIGHT_M + HANDLE_RISE_M
# Mug: a cup, base disc + round wall of boxes (origin at its bottom centre).
MUG_RADIUS_M = 0.031
MUG_HEIGHT_M = 0.085
MUG_WALL_M = 0.004
MUG_WALLS = 10
MUG_DENSITY = 600.0  # ~0.1 kg
# Signals.
OPENED_M = 0.10  # the drawer counts as open beyond this
CLOSED_TOL_M = 0.01  # ... and as closed within this
CLEAR_M = 0.12  # the opening hand is this far (grip frame to handle) from the handle: out of the way
ON_FLOOR_TOL_M = 0.005  # mug base this close to the drawer floor: resting on it

LAYOUTS = {
    "D0": Layout(
        "reference reset ranges",
        {"mug": Placement(x=(-0.30, -0.15), y=(0.20, 0.40), yaw=(-np.pi, np.pi))},
        scenery={"cabinet": Placement.at(0.10, -0.15, 0.0)},
        joints={"drawer_slide": (0.0, 0.0)},
    ),
    "D1": Layout(
        "wider mug range, cabinet pose varies, drawer slightly open",
        {"mug": Placement(x=(-0.32, -0.12), y=(0.15, 0.42), yaw=(-np.pi, np.pi))},
        scenery={"cabinet": Placement(x=(0.06, 0.14), y=(-0.19, -0.11), yaw=(-np.pi / 12, np.pi / 12))},
        joints={"drawer_slide": (0.0, 0.02)},
    ),
    "D2": Layout(
        "cabinet further away and turned toward the centre, drawer half open",
        {"mug": Placement(x=(-0.32, -0.12), y=(0.15, 0.42), yaw=(-np.pi, np.pi))},
        scenery={"cabinet": Placement(x=(0.12, 0.16), y=(-0.20, -0.16), yaw=(-np.pi / 8, -np.pi / 12))},
        joints={"drawer_slide": (0.04, 0.07)},
    ),
}


class DrawerCleanup(Task):
    name = "DrawerCleanup"
    horizon = 550
    native_embodiment = "PandaDex"
    table_size_m = (0.8, 1.5)
    layouts = LAYOUTS
    objects = ("mug", "drawer", "cabinet")
    articulations = ("drawer_slide",)
    task_spec = TaskSpec(
        subtasks={
            "right": (
                Subtask("open_drawer", "drawer", "drawer_open"),
                Subtask("close_drawer", "drawer", "drawer_closed"),
            ),
            "left": (
                Subtask("grasp_mug", "mug_upright", "grasp_mug"),
                Subtask("place_mug", "drawer", "mug_in_drawer", held="mug"),
            ),
        },
        sequential=(
            Sequential(pre=("right", "open_drawer"), post=("left", "place_mug")),
            Sequential(pre=("left", "place_mug"), post=("right", "close_drawer")),
        ),
    )

    # ------------------------------------------------------------------ scene
    def build(self, mj_spec: mujoco.MjSpec, table_top_z: float) -> None:
        front_x = -CAB_DEPTH_M / 2
        wood = dict(rgba=[0.62, 0.45, 0.3, 1], friction=[1.0, 0.005, 0.0001])
        cabinet = mj_spec.worldbody.add_body(name="cabinet", mocap=True)  # placed by the layout's scenery
        d, w, h, t = CAB_DEPTH_M / 2, CAB_WIDTH_M / 2, CAB_HEIGHT_M, PANEL_M
        box_between(cabinet, [-d, -w, 0], [d, w, t], **wood)  # bottom
        box_between(cabinet, [-d, -w, h - t], [d, w, h], **wood)  # top
        box_between(cabinet, [d - t, -w, t], [d, w, h - t], **wood)  # back
        for s in (-1, 1):  # sides
            box_between(cabinet, [-d, min(s * w, s * (w - t)), t], [d - t, max(s * w, s * (w - t)), h - t], **wood)

        # The drawer: a child of the cabinet (MuJoCo never collides a body with its parent, and
        # it keeps clear of the carcass anyway), on a slide along the cabinet's -x.
        drawer = cabinet.add_body(name="drawer")
        drawer.add_joint(
            name="drawer_slide",
            type=mujoco.mjtJoint.mjJNT_SLIDE,
            axis=[-1, 0, 0],
            range=[0.0, OPEN_MAX_M],
            damping=SLIDE_DAMPING,
            frictionloss=SLIDE_FRICTIONLOSS_N,
            armature=0.1,
        )
        inner = dict(rgba=[0.72, 0.55, 0.38, 1], friction=[1.0, 0.005, 0.0001], density=DRAWER_DENSITY)
        back_x = front_x + DRAWER_LENGTH_M
        floor_lo = FLOOR_TOP_M - FLOOR_THICKNESS_M
        hw = DRAWER_HALF_WIDTH_M
        box_between(drawer, [front_x, -hw, floor_lo], [back_x, hw, FLOOR_TOP_M], **inner)  # floor
        box_between(drawer, [back_x - WALL_M, -hw, FLOOR_TOP_M], [back_x, hw, WALL_TOP_M], **inner)  # back wall
        for s in (-1, 1):  # side walls
            box_between(
                drawer,
                [front_x, min(s * hw, s * (hw - WALL_M)), FLOOR_TOP_M],
                [back_x - WALL_M, max(s * hw, s * (hw - WALL_M)), WALL_TOP_M],
                **inner,
            )
        # The front plate covers the carcass's front, 1 mm proud of it when closed.
        box_between(
            drawer,
            [front_x - 0.001 - FRONT_THICKNESS_M, -w, 0.004],
            [front_x - 0.001, w, CAB_HEIGHT_M],
            **{**inner, "rgba": [0.55, 0.38, 0.24, 1]},
        )
        # The handle is a body of its own (rigidly part of the drawer), so a grasp of it can be
        # told from a hand brushing the drawer. The bar stands a little proud of the front, so a
        # hand lowering the mug into the open drawer passes clear of it.
        handle = drawer.add_body(name="drawer_handle", pos=[HANDLE_X_M, 0, HANDLE_Z_M])
        dark = dict(rgba=[0.25, 0.25, 0.28, 1], friction=[1.0, 0.005, 0.0001], density=2000.0)
        post_h = HANDLE_RISE_M - HANDLE_HALF_THICKNESS_M
        for s in (-1, 1):  # each post stands on the front plate's top edge
            handle.add_geom(
                type=mujoco.mjtGeom.mjGEOM_BOX,
                size=[0.012, 0.006, post_h / 2],
                pos=[0, s * HANDLE_POST_Y_M, -HANDLE_RISE_M + post_h / 2],
                **dark,
            )
        handle.add_geom(
            type=mujoco.mjtGeom.mjGEOM_BOX,
            condim=4,
            size=[HANDLE_HALF_WIDTH_M, HANDLE_POST_Y_M + 0.006, HANDLE_HALF_THICKNESS_M],
            **dark,
        )

        mug = mj_spec.worldbody.add_body(name="mug", pos=[0, 0, table_top_z])
        mug.add_freejoint(name="mug")
        ceramic = dict(rgba=[0.85, 0.25, 0.22, 1], density=MUG_DENSITY, friction=[1.2, 0.005, 0.0001])
        mug.add_geom(type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[MUG_RADIUS_M, 0.004, 0], pos=[0, 0, 0.004], **ceramic)
        # Walls stand on the base, 1 mm clear of what it stands on: only the base touches it.
        ring_wall(mug, MUG_RADIUS_M, MUG_HEIGHT_M - 0.007, MUG_WALLS, MUG_WALL_M, 0.007, **ceramic)

    def bind(self, model, data, embodiment, table_top_z) -> None:
        super().bind(model, data, embodiment, table_top_z)
        self._handle_id = model.body("drawer_handle").id
        self._right_grip = model.site(embodiment.eef_site("right")).id

    def object_poses(self) -> dict[str, np.ndarray]:
        """The bodies' poses, plus `mug_upright`: the mug's position with no turn. The mug is
        round, so its own (random) yaw means nothing to a grasp, and carrying a grasp by it would
        turn the wrist by up to a half turn."""
        poses = super().object_poses()
        upright = np.eye(4)
        upright[:3, 3] = poses["mug"][:3, 3]
        poses["mug_upright"] = upright
        return poses

    def drawer_floor_z(self) -> float:
        """World height of the drawer's floor (its top surface)."""
        drawer = self.body_ids["drawer"]
        return float(self.data.xpos[drawer, 2] + FLOOR_TOP_M * self.data.xmat[drawer, 8])

    # ------------------------------------------------------------------ success and signals
    def evaluate(self) -> TaskStatus:
        self.update_contacts()
        ids = self.body_ids
        mug, drawer, handle = ids["mug"], ids["drawer"], self._handle_id
        opening = self.joint_position("drawer_slide")
        mug_on_floor = (
            self.touching(mug, drawer) and abs(self.data.xpos[mug, 2] - self.drawer_floor_z()) < ON_FLOOR_TOL_M
        )
        right_on_drawer = self.touched_by_hand("right", drawer) or self.touched_by_hand("right", handle)
        right_clear = np.linalg.norm(self.data.site_xpos[self._right_grip] - self.data.xpos[handle]) > CLEAR_M
        closed = bool(mug_on_floor and opening < CLOSED_TOL_M)
        return TaskStatus(
            success=closed,
            signals={
                "grasp_handle": self.is_grasped("right", handle),
                # Open, let go of and the hand out of the way: the left hand has room to put the mug in.
                "drawer_open": bool(opening > OPENED_M and not right_on_drawer and right_clear),
                "grasp_mug": self.is_grasped("left", mug),
                "mug_in_drawer": bool(mug_on_floor and not self.touched_by_hand("left", mug)),
                "drawer_closed": closed,
            },
        )

    def dense_reward(self, status: TaskStatus) -> float:
        signals = status.signals
        opening = float(np.clip(self.joint_position("drawer_slide") / OPENED_M, 0.0, 1.0))
        in_drawer = signals["mug_in_drawer"]
        reward = 0.2 * (opening if not in_drawer else 1.0) + 0.1 * signals["grasp_mug"] + 0.4 * in_drawer
        if in_drawer:  # closing: the less open, the better
            reward += 0.3 * (1.0 - float(np.clip(self.joint_position("drawer_slide") / OPEN_MAX_M, 0.0, 1.0)))
        return float(reward)
