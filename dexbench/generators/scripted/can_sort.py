"""Scripted CanSort: the right hand picks the can by its top and holds it up over the middle; the
left hand takes it by its lower part from the side and lays it in the bin of its colour.

Right: over the can's top -> down -> close -> up (checked) -> to the hand-over pose (the can
upright over the middle of the table) -> wait until the left hand holds it firmly -> let go ->
up and away.
Left: (still until the right hand has the can up) beside the hand-over pose -> wait for the can
-> in round its lower part (a hand from the left, jaws from behind and to the left) -> close ->
(the right hand lets go) -> over the goal bin -> tilt the can 40 deg (its top toward the bin's
far end) and set its lowest edge down near the bin's near end -> let go (it topples and lies
along the bin) -> back out along the approach -> up.

Closed loop where a grasp can miss: the right hand's grasp is checked after a short lift and
the hand-over grasp after a hold; a miss is let go of and tried again from where things are.
The right hand opens only once the left hand holds the can.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from dexbench.envs.tasks.can_sort import BIN_HEIGHT_M, FLOOR_TOP_M
from dexbench.generators.scripted.base import ArmScript, ScriptedDemonstrator, top_down, translated

APPROACH_HEIGHT_M = 0.10  # hover this far above a top-down grasp before going down
ATTEMPTS = 3  # tries per grasp before going on regardless
CHECK_LIFT_M = 0.03  # lift a grasped can this far, then check it came along
# The right hand's grasp frame this far below the can's top (the fingers close round its top).
TOP_GRASP_DEPTH_M = 0.025
# Hand-over: the can upright, its axis over this table point, its bottom this high.
HANDOVER_XY_M = (-0.06, 0.02)
HANDOVER_BOTTOM_M = 0.12
# Keyed by `Hand.multi_finger`: the left hand's side grasp, its frame on the can's axis this far
# above the can's bottom. A hand (9 cm wide along the can) then spans its lower half, clear of
# the right hand's fingers round the top. Jaws (2 cm wide) hold it 8 cm up: at 5 cm the
# gripper's housing beside the can came down on a bin's wall as the can was laid down, and at
# 10 cm (mid-height) the can slipped out of them at the hand-over in every episode on MuJoCo
# 4.0.1 (its fix of cylinder multicontact); at 8 cm 12 of 12 succeed on 4.0.0 and 4.0.1, D0-D2.
SIDE_GRASP_HEIGHT_M = {True: 0.05, False: 0.08}
# Keyed by `Hand.multi_finger`: the heading the left hand's side grasp approaches along. A hand
# comes from the left (fingers forward, palm toward the can, thumb turned in below it). Jaws
# come from behind and 30 deg to the left, so they close across the plane the can is toppled
# in: closing along it (from the left), the far jaw held the leaning can up and the retreat
# stood it up again; straight from behind, a left Panda arm turned its gripper with 0.6-0.9 rad
# of tracking error.
SIDE_HEADING_RAD = {True: -np.pi / 2, False: -np.pi / 6}
# Keyed by `Hand.multi_finger`: the heading, from the bin's long axis, the can is toppled
# toward: across a hand's closing axis, along the jaws' approach (their closing axis across it).
TOPPLE_HEADING_RAD = {True: 0.0, False: -np.pi / 6}
SIDE_APPROACH_M = 0.12  # the side grasp starts this far back along its approach
FIRM_STEPS = 4  # the left hand holds the can this many steps in a row before the right lets go
# Laying the can down: tilted this far (top toward the bin's far end) ...
TILT_RAD = np.radians(40)
# ... its lowest edge this far from the bin's centre toward the robot (it then topples about
# that edge and lies over the middle of the bin: 18 cm long in a 23 cm inside) ...
PIVOT_X_M = -0.09
# ... and this far over the floor when let go.
RELEASE_GAP_M = 0.01
RETREAT_M = 0.10  # after letting go, the hand backs out this far along its approach axis
CLEAR_OVER_WALL_M = 0.08  # the can's lowest point this far over a wall's top on the way


def side_grasp(position: np.ndarray, heading: float) -> np.ndarray:
    """A level grasp frame approaching along the heading `heading` (its z), x down."""
    z = np.array([np.cos(heading), np.sin(heading), 0.0])
    x = np.array([0.0, 0.0, -1.0])
    pose = np.eye(4)
    pose[:3, :3] = np.column_stack([x, np.cross(z, x), z])
    pose[:3, 3] = position
    return pose


class CanSortDemonstrator(ScriptedDemonstrator):
    task = "CanSort"

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.can_at_handover = False
        self.can_picked = False
        self.left_closed = False

    @property
    def can_half_height(self) -> float:
        """The episode's can's half height (m): a resized can (O axis) is grasped by its own top."""
        return self.env.task.can_size()[1]

    def script(self, arm: str) -> ArmScript:
        return self.pick_script() if arm == "right" else self.place_script()

    # ------------------------------------------------------------------ right: pick and hold up
    def pick_script(self) -> ArmScript:
        arm = "right"
        for _ in range(ATTEMPTS):
            if (yield from self.top_grasp(arm)):
                break
        self.can_picked = True
        z = self.env.task.table_top_z
        x, y = HANDOVER_XY_M
        goal = top_down(np.array([x, y, z + HANDOVER_BOTTOM_M + 2 * self.can_half_height - TOP_GRASP_DEPTH_M]), 0.0)
        # The grasp frame's offset from the can's axis carried along.
        can = self.env.object_poses()["can"][:3, 3]
        offset = self.env.eef_poses()[arm][:3, 3] - can
        goal = translated(goal, [offset[0], offset[1], 0.0])
        yield from self.move(arm, translated(self.target[arm], [0, 0, 0.06]))
        yield from self.move(arm, goal, speed_scale=0.8, settle_steps=self.steps(8))
        self.can_at_handover = True
        yield from self.wait_until(
            arm, lambda: self.holds_firmly("left", "can", self.left_closed, FIRM_STEPS), max_steps=300
        )
        yield from self.set_hand(arm, self.open_hand, self.steps(6))
        yield from self.move(arm, translated(self.target[arm], [0, -0.04, 0.08]))
        yield from self.move(arm, self.home[arm])

    def top_grasp(self, arm: str) -> ArmScript:
        """Top-down on the can's top; returns whether it holds it after a short lift."""

        def pose() -> np.ndarray:
            can = self.env.object_poses()["can"]
            top = can[:3, 3] + can[:3, 2] * (self.can_half_height - TOP_GRASP_DEPTH_M) + self.jitter(0.004)
            return top_down(top, 0.0)

        yield from self.move(arm, translated(pose(), [0, 0, APPROACH_HEIGHT_M]), self.open_hand, settle_steps=2)
        yield from self.move(arm, pose(), speed_scale=0.5, settle_steps=self.steps(4))
        yield from self.set_hand(arm, self.closed_hand, self.steps(10))
        yield from self.hold(arm, 4)
        z0 = self.env.object_poses()["can"][2, 3]
        yield from self.move(arm, translated(self.target[arm], [0, 0, CHECK_LIFT_M]), speed_scale=0.5, settle_steps=3)
        if self.env.object_poses()["can"][2, 3] - z0 > CHECK_LIFT_M / 3 and self.env.subtask_signals()["grasp_can"]:
            return True
        yield from self.set_hand(arm, self.open_hand, self.steps(6))
        yield from self.move(arm, translated(self.target[arm], [0, 0, APPROACH_HEIGHT_M]))
        return False

    # ------------------------------------------------------------------ left: take over and lay down
    def place_script(self) -> ArmScript:
        arm, env = "left", self.env
        z = env.task.table_top_z
        x, y = HANDOVER_XY_M
        # Still until the right hand has the can up: a humanoid's whole-body IK turns its waist
        # for a far reach, which would throw the right hand about while it grasps.
        yield from self.wait_until(arm, lambda: self.can_picked, max_steps=300)
        wait = side_grasp(
            np.array([x, y, z + HANDOVER_BOTTOM_M + SIDE_GRASP_HEIGHT_M[self.multi]]), SIDE_HEADING_RAD[self.multi]
        )
        wait = translated(wait, -SIDE_APPROACH_M * wait[:3, 2])
        yield from self.move(arm, translated(wait, -0.04 * wait[:3, 2] + [0, 0, 0.04]), self.preshaped_hand)
        yield from self.move(arm, wait)
        yield from self.wait_until(arm, lambda: self.can_at_handover, max_steps=600)
        yield from self.hold(arm, self.steps(3))
        for _ in range(ATTEMPTS):
            if (yield from self.side_take(arm)):
                break
        yield from self.wait_until(arm, lambda: env.subtask_signals()["can_handed_over"], max_steps=60)

        # Over the goal bin, upright, then tilted and down.
        hand, can = env.eef_poses()[arm], env.object_poses()["can"]
        bin_ = env.object_poses()["goal_bin"]
        yaw = float(np.arctan2(bin_[1, 0], bin_[0, 0]))
        # The can topples toward `ahead` (heading `topple` on the table).
        topple = yaw + TOPPLE_HEADING_RAD[self.multi]
        turn = Rotation.from_euler("z", topple) * Rotation.from_euler("y", TILT_RAD) * Rotation.from_euler("z", -topple)
        # The can's pose when let go: its lowest edge at the pivot spot.
        ahead = np.array([np.cos(topple), np.sin(topple), 0.0])
        pivot = bin_[:3, 3] + ahead * (PIVOT_X_M + self.rng.uniform(-0.01, 0.01)) + [0, 0, FLOOR_TOP_M + RELEASE_GAP_M]
        axis = turn.apply([0.0, 0.0, 1.0])
        down_dir = turn.apply([1.0, 0.0, 0.0])  # in the bottom disc, toward its lowest point
        radius, half_height = env.task.can_size()
        bottom = pivot - radius * down_dir
        centre = bottom + half_height * axis
        # The hand relative to the can's centre (the can's own turn about its axis does not matter).
        rel = hand[:3, 3] - can[:3, 3]
        goal = np.eye(4)
        goal[:3, :3] = turn.as_matrix() @ hand[:3, :3]
        goal[:3, 3] = centre + turn.apply(rel)
        # Carried upright to over the release pose, high enough that the can's lowest point
        # clears the walls by CLEAR_OVER_WALL_M; tilted there, then straight down.
        above = [0.0, 0.0, max(z + BIN_HEIGHT_M + CLEAR_OVER_WALL_M - pivot[2], 0.0)]
        carry = hand.copy()
        carry[:3, 3] = goal[:3, 3] + above
        yield from self.move(arm, translated(hand, [0, 0, 0.03]))
        yield from self.move(arm, carry, speed_scale=0.8)
        yield from self.move(arm, translated(goal, above), speed_scale=0.8)
        yield from self.move(arm, goal, speed_scale=0.5, settle_steps=self.steps(3))
        yield from self.set_hand(arm, self.open_hand, self.steps(5))
        yield from self.hold(arm, 3)
        # Out the way the hand came in (open jaws slide off the can along their length; moved
        # along the bin, the far one held the can up as it leaned on it), then up.
        yield from self.move(arm, translated(self.target[arm], -RETREAT_M * self.target[arm][:3, 2]), speed_scale=0.6)
        yield from self.move(arm, translated(self.target[arm], [0, 0, 0.1]))

    def side_take(self, arm: str) -> ArmScript:
        """From SIDE_APPROACH_M back along the approach, in round the can's lower part, close;
        returns whether the hand holds it (after a hold: lifting would pull the can out of the
        right hand)."""

        def pose() -> np.ndarray:
            can = self.env.object_poses()["can"]
            point = can[:3, 3] - can[:3, 2] * (self.can_half_height - SIDE_GRASP_HEIGHT_M[self.multi])
            point += [*self.rng.uniform(-0.003, 0.003, 1), 0.0, 0.0]
            return side_grasp(point, SIDE_HEADING_RAD[self.multi])

        yield from self.move(arm, translated(pose(), -SIDE_APPROACH_M * pose()[:3, 2]))
        yield from self.move(arm, pose(), speed_scale=0.5, settle_steps=self.steps(4))
        yield from self.set_hand(arm, self.closed_hand, self.steps(10))
        self.left_closed = True
        yield from self.hold(arm, 4 + FIRM_STEPS + 8)
        task = self.env.task
        task.update_contacts()
        if task.is_grasped(arm, task.body_ids["can"]):
            return True
        self.left_closed = False
        yield from self.set_hand(arm, self.preshaped_hand, self.steps(6))
        yield from self.move(arm, translated(self.target[arm], -SIDE_APPROACH_M * self.target[arm][:3, 2]))
        return False

    @property
    def multi(self) -> bool:
        return self.hand_model.multi_finger
