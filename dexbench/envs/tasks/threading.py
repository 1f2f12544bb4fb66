"""Threading: one hand holds a needle, the other a tripod with a ring; the needle goes through it.

Task Description:
    A needle lies on the left of the table, a tripod carrying a small upright ring stands on the
    right. The left hand grasps the needle by its handle, the right hand grasps the tripod by its
    handle bar (in parallel); then both bring them together (coordination: both arms end the
    threading on the same step): the right hand holds the ring up in mid-air, facing the needle,
    and the left hand pushes the needle's tip through it.

    Needle frame: origin at the handle's centre, the rod along -y (as the reference's needle, so
    its yaw means what the reference's does: at yaw -pi/2 the tip points at the robot). The
    needle is 20 cm long: an 8 x 4 x 4 cm handle (parallel jaws, 8 cm stroke, close across it,
    and a hand's four fingers fit along it) and a 12 cm rod of 8 mm diameter (a capsule: its
    round tip slides into the ring rather than catching on it) on the handle's axis, 1.6 cm clear
    of the table, so only the handle rests on it.
    Tripod frame: origin on the table under the hub, the ring's axis along x (as the
    reference's). Three capsule legs (one under the handle, so its weight stays inside the feet)
    carry a hub; a thin post rises from it to the ring, 15 cm above the table (20 cm overall, as
    the reference). The ring is eight boxes around an octagon, its opening 2 cm across: 6 mm of
    clearance around the rod on every side (the reference: a 1.6 cm square opening around a 1 cm
    square rod). The demonstrator threads it closed-loop, aligning the tip on the ring's axis to
    1.5 mm from the object poses; the clearance leaves room for a needle that pitches in a
    hand's grip while it is pushed, not for an open-loop guess. The handle is a flat bar (2.8 x
    1.6 cm, as TrayLift's: a round one would let the tripod swing about it) sticking 17.5 cm out
    of the hub along -x, on the ring's exit side: the hand holding it (13 cm out, where a
    five-finger hand's open thumb clears the hub) is on the far side of the ring from the
    needle, 7 cm behind the threaded tip. The tripod weighs 45 g.
    What a hand holds (the needle's handle, the bar) has a grippy surface (friction 2, torsional
    friction 3 cm): held at one end, their weight would otherwise turn them between the pads.

Randomizations:
    | layout | needle x, y (m), yaw (rad)                   | tripod x, y (m), yaw (rad)                |
    |--------|----------------------------------------------|-------------------------------------------|
    | D0     | (-0.20,-0.05), (0.15,0.25), (-2pi/3,-pi/3)   | (-0.10,0.15), (-0.20,-0.10), (pi/6,pi/2)  |
    | D1     | (-0.20,0.05), (0.15,0.25), (-7pi/6,pi/6)     | (-0.10,0.15), (-0.20,-0.10), (pi/6,5pi/6) |
    | D2     | (-0.20,-0.05), (-0.25,-0.15), (-2pi/3,-pi/3) | (-0.10,0.15), (0.10,0.20), (pi/6,pi/2)    |
    D0's ranges are the reference's.
    D0: the tip points at the robot (+-30 deg), the ring faces the left (between far-left and
    left). D1 widens the needle's x and yaw (the tip points anywhere but a 120 deg cone away from
    the robot) and the tripod's yaw (the ring faces anywhere in a 120 deg fan around the left).
    D2 swaps the sides (MimicGen's pattern): the needle lies on the right and the tripod on the
    left, with D0's yaws, while the arms keep their roles (the left hand takes the needle, the
    right the tripod): each hand reaches across the table for its object, and the hands must
    pass each other (one at a time) to meet as in D0; a replayed D0 demo grasps at empty table.

Success Conditions:
    The needle is threaded through the ring: the tip (the rod's end) is more than 1.5 cm past
    the ring's plane while the rod's base (where it leaves the handle) is on the other side,
    and the rod's axis crosses the ring's plane within the ring's inner radius (1 cm) of its
    centre. Either side of the ring will do. A tip near the ring, touching it or beside it, is
    no success; nor is one that went round the ring's rim.
    Subtask signals (all false at reset): `grasp_needle` (the left hand holds the needle),
    `grasp_tripod` (the right hand holds the tripod), `threaded` (= success).
"""

from __future__ import annotations

import mujoco
import numpy as np

from dexbench.envs.tasks.base import Coordination, Layout, Placement, Subtask, Task, TaskSpec, TaskStatus, box_between

# Needle (origin at the handle's centre, the rod along -y, as the reference's needle: its yaw then
# means what the reference's does).
NEEDLE_HANDLE_HALF_M = (0.02, 0.04, 0.02)  # 8 cm along the rod (a hand's four fingers fit), 4 x 4 cm across
NEEDLE_ROD_RADIUS_M = 0.004  # 8 mm thick
NEEDLE_ROD_LENGTH_M = 0.12  # from the handle's front face to the tip: 20 cm overall
NEEDLE_BASE_M = NEEDLE_HANDLE_HALF_M[1]  # where the rod leaves the handle, along -y
NEEDLE_TIP_M = NEEDLE_BASE_M + NEEDLE_ROD_LENGTH_M  # the rod's (rounded) end, along -y
NEEDLE_DENSITY = 300.0  # kg/m^3, light wood: 40 g
# Tripod (origin on the table under the hub, ring axis along x).
RING_Z_M = 0.15  # ring centre above the table
RING_INNER_RADIUS_M = 0.010  # the opening: 6 mm of clearance around the rod
RING_WALL_M = 0.006  # radial thickness of the ring
RING_DEPTH_M = 0.012  # the ring's thickness along its axis
RING_SEGMENTS = 8
LEG_RADIUS_M = 0.006
LEG_SPREAD_M = 0.08  # feet this far from the centre
HUB_HALF_M = (0.02, 0.02, 0.01)
HUB_Z_M = 0.06  # hub centre above the table
POST_HALF_M = 0.006
# The handle bar sticks out of the hub along the ring's axis, on its exit side (-x): the hand
# holding it is on the far side of the ring from the needle, 7 cm behind the tip when threaded.
# A hand holds it 13 cm out: a five-finger hand's open thumb reaches 8 cm along the bar, and
# where a humanoid's wrist can hold the ring it points at the hub.
HANDLE_X_M = (0.025, 0.175)  # the bar spans x = -0.175 .. -0.025
HANDLE_Z_M = 0.065  # bar axis above the table: fingers wrap under it
HANDLE_HALF_WIDTH_M = 0.014  # the flat bar's cross-section: 2.8 cm wide (y),
HANDLE_HALF_THICKNESS_M = 0.008  # 1.6 cm thick (z)
HANDLE_GRASP_X_M = -0.13  # where a hand holds the bar
TRIPOD_DENSITY = 300.0
# What a hand holds (the needle's handle, the tripod's bar) is grippy and resists turning between
# finger pads (torsional friction, m): held at one end, the needle's and the tripod's weight
# would otherwise pivot them about the line between thumb and fingers, or slide them out.
HELD = dict(condim=4, friction=[2.0, 0.03, 0.0001])
# Success.
THROUGH_M = 0.015  # the tip is this far past the ring's plane (the ring is 1.2 cm thick)

LAYOUTS = {
    "D0": Layout(
        "reference reset ranges",
        {
            "needle": Placement(x=(-0.20, -0.05), y=(0.15, 0.25), yaw=(-2 * np.pi / 3, -np.pi / 3)),
            "tripod": Placement(x=(-0.10, 0.15), y=(-0.20, -0.10), yaw=(np.pi / 6, np.pi / 2)),
        },
    ),
    "D1": Layout(
        "wider needle position and yaw, wider tripod yaw",
        {
            "needle": Placement(x=(-0.20, 0.05), y=(0.15, 0.25), yaw=(-7 * np.pi / 6, np.pi / 6)),
            "tripod": Placement(x=(-0.10, 0.15), y=(-0.20, -0.10), yaw=(np.pi / 6, 5 * np.pi / 6)),
        },
    ),
    "D2": Layout(
        "sides swapped: needle on the right, tripod on the left",
        {
            "needle": Placement(x=(-0.20, -0.05), y=(-0.25, -0.15), yaw=(-2 * np.pi / 3, -np.pi / 3)),
            "tripod": Placement(x=(-0.10, 0.15), y=(0.10, 0.20), yaw=(np.pi / 6, np.pi / 2)),
        },
    ),
}


class Threading(Task):
    name = "Threading"
    horizon = 400
    native_embodiment = "Panda"
    layouts = LAYOUTS
    objects = ("needle", "tripod")
    task_spec = TaskSpec(
        subtasks={
            "left": (
                Subtask("grasp_needle", "needle", "grasp_needle"),
                Subtask("thread", "tripod", "threaded", held="needle"),
            ),
            "right": (
                Subtask("grasp_tripod", "tripod", "grasp_tripod"),
                Subtask("thread", "tripod", "threaded", held="tripod"),
            ),
        },
        coordination=(Coordination({"left": "thread", "right": "thread"}, scheme="transform"),),
    )

    # ------------------------------------------------------------------ scene
    def build(self, mj_spec: mujoco.MjSpec, table_top_z: float) -> None:
        capsule, box = mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_BOX
        needle = mj_spec.worldbody.add_body(name="needle", pos=[0, 0, table_top_z + NEEDLE_HANDLE_HALF_M[2]])
        needle.add_freejoint(name="needle")
        dark = dict(rgba=[0.3, 0.2, 0.12, 1], density=NEEDLE_DENSITY, friction=[1.2, 0.005, 0.0001])
        needle.add_geom(type=box, size=NEEDLE_HANDLE_HALF_M, **{**dark, **HELD})
        rod_end = NEEDLE_TIP_M - NEEDLE_ROD_RADIUS_M  # the capsule's axis ends a radius short of the tip
        needle.add_geom(
            type=capsule,
            size=[NEEDLE_ROD_RADIUS_M, 0, 0],
            fromto=[0, -(NEEDLE_BASE_M - NEEDLE_ROD_RADIUS_M), 0, 0, -rod_end, 0],
            **{**dark, "rgba": [0.75, 0.75, 0.8, 1], "friction": [0.3, 0.005, 0.0001]},
        )

        tripod = mj_spec.worldbody.add_body(name="tripod", pos=[0, 0, table_top_z])
        tripod.add_freejoint(name="tripod")
        wood = dict(rgba=[0.8, 0.65, 0.45, 1], density=TRIPOD_DENSITY, friction=[1.0, 0.005, 0.0001])
        hub_bottom = HUB_Z_M - HUB_HALF_M[2]
        for angle in (np.pi, np.pi / 3, -np.pi / 3):  # one under the handle
            foot = [LEG_SPREAD_M * np.cos(angle), LEG_SPREAD_M * np.sin(angle), LEG_RADIUS_M]
            tripod.add_geom(type=capsule, size=[LEG_RADIUS_M, 0, 0], fromto=[0, 0, hub_bottom + 0.005, *foot], **wood)
        hx, hy, hz = HUB_HALF_M
        box_between(tripod, [-hx, -hy, HUB_Z_M - hz], [hx, hy, HUB_Z_M + hz], **wood)
        ring_outer = RING_INNER_RADIUS_M + RING_WALL_M
        box_between(
            tripod,
            [-POST_HALF_M, -POST_HALF_M, HUB_Z_M + hz],
            [POST_HALF_M, POST_HALF_M, RING_Z_M - ring_outer + 0.002],
            **wood,
        )
        # The ring: boxes around an octagon in the tripod's y-z plane (axis along x), each box's
        # inner face RING_INNER_RADIUS_M from the centre.
        r_mid = RING_INNER_RADIUS_M + RING_WALL_M / 2
        half_tangent = ring_outer * np.tan(np.pi / RING_SEGMENTS)  # the outer corners meet
        metal = {**wood, "rgba": [0.85, 0.55, 0.15, 1]}
        for k in range(RING_SEGMENTS):
            a = 2 * np.pi * k / RING_SEGMENTS
            theta = a - np.pi / 2  # turns the box's z onto the radial direction (0, cos a, sin a)
            tripod.add_geom(
                type=box,
                size=[RING_DEPTH_M / 2, half_tangent, RING_WALL_M / 2],
                pos=[0, r_mid * np.cos(a), RING_Z_M + r_mid * np.sin(a)],
                quat=[np.cos(theta / 2), np.sin(theta / 2), 0, 0],
                **metal,
            )
        # The handle bar (flat: a round bar held at one end would let the tripod swing about it).
        box_between(
            tripod,
            [-HANDLE_X_M[1], -HANDLE_HALF_WIDTH_M, HANDLE_Z_M - HANDLE_HALF_THICKNESS_M],
            [-HANDLE_X_M[0], HANDLE_HALF_WIDTH_M, HANDLE_Z_M + HANDLE_HALF_THICKNESS_M],
            **{**wood, "rgba": [0.45, 0.3, 0.18, 1], **HELD},
        )

    def rest_height(self, name: str) -> float:
        return NEEDLE_HANDLE_HALF_M[2] if name == "needle" else 0.0

    # ------------------------------------------------------------------ geometry
    def ring_frame(self) -> tuple[np.ndarray, np.ndarray]:
        """The ring's centre and axis (world)."""
        tripod = self.body_ids["tripod"]
        mat = self.data.xmat[tripod].reshape(3, 3)
        return self.data.xpos[tripod] + mat[:, 2] * RING_Z_M, mat[:, 0].copy()

    def needle_points(self) -> tuple[np.ndarray, np.ndarray]:
        """The rod's base (where it leaves the handle) and its tip (world)."""
        needle = self.body_ids["needle"]
        pos, rod = self.data.xpos[needle], -self.data.xmat[needle].reshape(3, 3)[:, 1]
        return pos + rod * NEEDLE_BASE_M, pos + rod * NEEDLE_TIP_M

    def threading_state(self) -> tuple[float, float, float]:
        """(tip depth past the ring's plane, base depth, where the rod's axis crosses the plane:
        distance from the ring's centre); depths are signed along the ring's axis."""
        centre, axis = self.ring_frame()
        base, tip = self.needle_points()
        s_tip, s_base = float(np.dot(tip - centre, axis)), float(np.dot(base - centre, axis))
        if s_tip * s_base >= 0.0:
            return s_tip, s_base, np.inf
        crossing = base + (tip - base) * s_base / (s_base - s_tip)
        return s_tip, s_base, float(np.linalg.norm(crossing - centre))

    # ------------------------------------------------------------------ success and signals
    def evaluate(self) -> TaskStatus:
        self.update_contacts()
        s_tip, _, crossing = self.threading_state()
        threaded = bool(abs(s_tip) > THROUGH_M and crossing < RING_INNER_RADIUS_M)
        return TaskStatus(
            success=threaded,
            signals={
                "grasp_needle": self.is_grasped("left", self.body_ids["needle"]),
                "grasp_tripod": self.is_grasped("right", self.body_ids["tripod"]),
                "threaded": threaded,
            },
        )

    def dense_reward(self, status: TaskStatus) -> float:
        signals = status.signals
        if status.success:
            return 1.0
        centre, axis = self.ring_frame()
        _, tip = self.needle_points()
        to_tip = tip - centre
        off_axis = np.linalg.norm(to_tip - np.dot(to_tip, axis) * axis)  # distance from the ring's axis
        near = float(np.exp(-10.0 * np.linalg.norm(to_tip))) * float(np.exp(-50.0 * off_axis))
        held = signals["grasp_needle"] and signals["grasp_tripod"]
        return float(0.15 * signals["grasp_needle"] + 0.15 * signals["grasp_tripod"] + 0.5 * near * held)
